//! A step's flat gradient: how each micro-batch's gradients add into it, and how data-parallel ranks sum
//! it while the backward pass still runs, as PyTorch's DDP does.
//!
//! The flat buffer is laid out in the parameters' order, and the backward pass finishes the last layers
//! first, so the buckets are cut from the buffer's end: about `Collective::bucket_elements` elements
//! each. During a step's last micro-batch, once the backward pass has handed over the last gradient of a
//! bucket, the bucket's sum starts on the engine's own stream (NCCL) while the GPU goes on with the
//! earlier layers; the optimizer waits for them all. Earlier micro-batches only add up, and their share
//! travels with the last one's. Buckets start in one order, the same on every rank, as collectives must.

use std::collections::HashMap;
use std::ops::Range;

use candle_core::Tensor;

use super::collective::Collective;
use crate::error::{Error, Result};
use crate::model::fused;
use crate::model::parameters::FlatLayout;

/// flat[offset..offset + n] += gradient (n elements), in place.
pub fn add_into(flat: &Tensor, offset: usize, gradient: &Tensor) -> Result<()> {
    let place = flat.narrow(0, offset, gradient.elem_count())?;
    if fused::accumulate_supported(&place, gradient) {
        fused::accumulate(&place, gradient)?;
    } else {
        let sum = (place + gradient.flatten_all()?.to_dtype(flat.dtype())?)?;
        flat.slice_set(&sum, 0, offset)?;
    }
    Ok(())
}

/// The buckets of one flat layout.
pub struct Buckets {
    /// Ranges of the flat buffer, in the order their sums start (the buffer's end first).
    ranges: Vec<Range<usize>>,
    /// How many parameters each bucket holds.
    counts: Vec<usize>,
    /// Each parameter's offset in the flat buffer and its bucket.
    places: HashMap<String, (usize, usize)>,
}

impl Buckets {
    /// Walks `layout` from its last parameter back, closing a bucket once it holds `bucket_elements`
    /// or more (a parameter is never split; a big one makes a bucket of its own).
    pub fn plan(layout: &FlatLayout, bucket_elements: usize) -> Self {
        let mut buckets = Buckets { ranges: Vec::new(), counts: Vec::new(), places: HashMap::new() };
        // The bucket being filled: where it ends in the buffer, how far back it reaches, its parameters.
        let mut open: Option<(usize, usize, usize)> = None;
        for &(name, offset, shape) in layout.iter().rev() {
            let end = offset + shape.iter().product::<usize>();
            let (bucket_end, start, count) = open.get_or_insert((end, end, 0));
            (*start, *count) = (offset, *count + 1);
            buckets.places.insert(name.to_string(), (offset, buckets.ranges.len()));
            if *bucket_end - *start >= bucket_elements {
                buckets.close(open.take());
            }
        }
        buckets.close(open);
        buckets
    }

    fn close(&mut self, open: Option<(usize, usize, usize)>) {
        if let Some((end, start, count)) = open {
            self.ranges.push(start..end);
            self.counts.push(count);
        }
    }

    /// The buckets' ranges of the flat buffer, in the order their sums start.
    pub fn ranges(&self) -> &[Range<usize>] {
        &self.ranges
    }
}

/// A step's last micro-batch: its gradients added into the flat gradient `grad` as the backward pass
/// hands them over, and each bucket's sum over the ranks started as soon as the bucket is whole.
pub struct BucketedSum<'a> {
    buckets: &'a Buckets,
    grad: &'a Tensor,
    collective: &'a dyn Collective,
    /// Gradients each bucket still waits for.
    missing: Vec<usize>,
    /// Buckets whose sums have started: the first `started`.
    started: usize,
}

impl<'a> BucketedSum<'a> {
    pub fn new(buckets: &'a Buckets, grad: &'a Tensor, collective: &'a dyn Collective) -> Self {
        BucketedSum { buckets, grad, collective, missing: buckets.counts.clone(), started: 0 }
    }

    /// Adds the gradient of parameter `name`, then starts the sums of the buckets now whole (in order:
    /// a whole bucket waits for the ones before it).
    pub fn add(&mut self, name: &str, gradient: &Tensor) -> Result<()> {
        let &(offset, bucket) =
            self.buckets.places.get(name).ok_or_else(|| Error::usage(format!("no bucket holds the gradient of {name}")))?;
        if self.missing[bucket] == 0 {
            return Err(Error::usage(format!("the gradient of {name} came twice in one backward pass")));
        }
        add_into(self.grad, offset, gradient)?;
        self.missing[bucket] -= 1;
        while self.started < self.missing.len() && self.missing[self.started] == 0 {
            self.collective.sum_in_place(self.grad, self.buckets.ranges[self.started].clone())?;
            self.started += 1;
        }
        Ok(())
    }

    /// Waits until every bucket's sum is in place.
    pub fn finish(self) -> Result<()> {
        if self.started < self.missing.len() {
            let range = &self.buckets.ranges[self.started];
            return Err(Error::usage(format!("the backward pass left gradients of elements {range:?} out")));
        }
        self.collective.wait_for_sums()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_the_buffer_from_its_end_and_never_split_a_parameter() {
        let shapes = [vec![10, 4], vec![4], vec![4, 4], vec![4], vec![4, 4], vec![4]];
        let mut offset = 0;
        let layout: FlatLayout = shapes
            .iter()
            .enumerate()
            .map(|(i, shape)| {
                let place = (["a", "b", "c", "d", "e", "f"][i], offset, shape.as_slice());
                offset += shape.iter().product::<usize>();
                place
            })
            .collect();
        // Elements: a 0..40, b 40..44, c 44..60, d 60..64, e 64..80, f 80..84.
        let buckets = Buckets::plan(&layout, 20);
        assert_eq!(buckets.ranges(), [64..84, 44..64, 0..44]);
        assert_eq!(buckets.counts, [2, 2, 2]);
        assert_eq!(buckets.places["c"], (44, 1));
        // One bucket when the size exceeds the buffer; one per parameter when it is 1.
        let one = Buckets::plan(&layout, 1000);
        assert_eq!((one.ranges().len(), &one.ranges()[0]), (1, &(0..84)));
        assert_eq!(Buckets::plan(&layout, 1).ranges().len(), 6);
    }
}
