use std::time::Instant;
use candle_core::{Device, Tensor};
fn time(label: &str, flops: f64, f: impl Fn() -> Tensor) {
    for _ in 0..3 { f(); }
    let t = Instant::now();
    for _ in 0..10 { f(); }
    let dt = t.elapsed().as_secs_f64() / 10.0;
    println!("{label:40} {:7.2} ms {:.1} GFLOP/s", dt * 1e3, flops / dt / 1e9);
}
fn main() {
    let r = |s: &[usize]| Tensor::randn(0f32, 1.0, s, &Device::Cpu).unwrap();
    let (x, w, dy) = (r(&[2048, 384]), r(&[1024, 384]), r(&[2048, 1024]));
    let f = 2.0 * 2048.0 * 384.0 * 1024.0;
    time("fwd x W^T", f, || x.matmul(&w.t().unwrap()).unwrap());
    let wt = w.t().unwrap().contiguous().unwrap();
    time("fwd x Wt(contiguous)", f, || x.matmul(&wt).unwrap());
    time("bwd dy W", f, || dy.matmul(&w).unwrap());
    time("bwd dy^T x", f, || dy.t().unwrap().matmul(&x).unwrap());
    let (q, k) = (r(&[8, 2, 768, 64]), r(&[8, 2, 256, 64]));
    let p = r(&[8, 2, 768, 256]);
    let fa = 2.0 * 16.0 * 768.0 * 256.0 * 64.0;
    time("attn Q K^T", fa, || q.matmul(&k.t().unwrap()).unwrap());
    time("attn P V", fa, || p.matmul(&k).unwrap());
    time("attn P^T dY", fa, || p.t().unwrap().matmul(&q).unwrap());
    use minilm_core::model::fused::batched_matmul;
    time("fused Q K^T", fa, || batched_matmul(&q, &k.t().unwrap()).unwrap());
    time("fused P V", fa, || batched_matmul(&p, &k).unwrap());
    time("fused P^T dY", fa, || batched_matmul(&p.t().unwrap(), &q).unwrap());
    let diff = (batched_matmul(&q, &k.t().unwrap()).unwrap() - q.matmul(&k.t().unwrap()).unwrap()).unwrap().abs().unwrap().max_all().unwrap();
    println!("max diff {diff}");
    let (h, e, dl) = (r(&[2048, 384]), r(&[6400, 384]), r(&[2048, 6400]));
    let fh = 2.0 * 2048.0 * 384.0 * 6400.0;
    time("head x E^T", fh, || h.matmul(&e.t().unwrap()).unwrap());
    time("head dl E", fh, || dl.matmul(&e).unwrap());
    time("head dl^T h", fh, || dl.t().unwrap().matmul(&h).unwrap());
}
