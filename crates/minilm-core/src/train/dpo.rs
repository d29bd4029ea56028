//! Direct Preference Optimization's loss (Rafailov et al., 2023) as TRL's DPOTrainer computes it: from
//! the log-probabilities of each pair's chosen and rejected reply under the policy being trained and
//! under the frozen reference model it started from,
//!
//!   margin = (policy chosen - policy rejected) - (reference chosen - reference rejected)
//!   sigmoid: -(1 - ε) log σ(β margin) - ε log σ(-β margin)   (ε: label smoothing, cDPO)
//!   ipo:     (margin - 1 / 2β)²                                (on log-probabilities averaged per token)
//!
//! and the rewards TRL logs: β (policy - reference) for the chosen and the rejected reply.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DpoLossType {
    /// The DPO paper's loss.
    #[default]
    Sigmoid,
    /// Identity preference optimization (Azar et al., 2023): a squared loss that does not push the
    /// margin to infinity. TRL takes it on the replies' mean log-probability per token.
    Ipo,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct DpoOptions {
    pub beta: f64,
    pub loss_type: DpoLossType,
    /// The probability that a pair's preference is the wrong way round (sigmoid only).
    pub label_smoothing: f64,
}

/// A pair's log-probabilities of its chosen and of its rejected reply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PairLogps {
    pub chosen: f64,
    pub rejected: f64,
}

/// A pair's loss, its gradient with respect to the policy's two log-probabilities, and its rewards.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PairLoss {
    pub loss: f64,
    pub d_chosen: f64,
    pub d_rejected: f64,
    pub chosen_reward: f64,
    pub rejected_reward: f64,
}

impl DpoOptions {
    /// Whether the loss is taken on log-probabilities averaged over each reply's tokens, not summed.
    pub fn averages_tokens(&self) -> bool {
        self.loss_type == DpoLossType::Ipo
    }

    pub fn pair_loss(&self, policy: PairLogps, reference: PairLogps) -> PairLoss {
        let beta = self.beta;
        let margin = (policy.chosen - policy.rejected) - (reference.chosen - reference.rejected);
        let (loss, d_margin) = match self.loss_type {
            DpoLossType::Sigmoid => {
                let (z, smoothing) = (beta * margin, self.label_smoothing);
                let loss = -(1.0 - smoothing) * log_sigmoid(z) - smoothing * log_sigmoid(-z);
                // d/dz -log σ(z) = -σ(-z); d/dz -log σ(-z) = σ(z).
                let d_z = -(1.0 - smoothing) * sigmoid(-z) + smoothing * sigmoid(z);
                (loss, beta * d_z)
            }
            DpoLossType::Ipo => {
                let off = margin - 1.0 / (2.0 * beta);
                (off * off, 2.0 * off)
            }
        };
        PairLoss {
            loss,
            d_chosen: d_margin,
            d_rejected: -d_margin,
            chosen_reward: beta * (policy.chosen - reference.chosen),
            rejected_reward: beta * (policy.rejected - reference.rejected),
        }
    }
}

/// What a micro-batch of pairs gave: the mean loss over its pairs, its gradient with respect to each
/// scored token's negative log-likelihood, and each pair's terms (with the policy's log-probabilities).
pub struct BatchLoss {
    pub loss: f64,
    pub d_nll: Vec<f32>,
    pub pairs: Vec<(PairLogps, PairLoss)>,
}

impl DpoOptions {
    /// The DPO loss of a micro-batch whose sequences are pairs, chosen then rejected: `nll` holds each
    /// sequence's scored tokens' negative log-likelihoods one sequence after another, `counts` how many
    /// each has, `reference` each pair's reference log-probabilities (as `reply_logps` gives them).
    pub fn batch_loss(&self, nll: &[f32], counts: &[usize], reference: &[PairLogps]) -> BatchLoss {
        assert_eq!(counts.len(), 2 * reference.len(), "two sequences per pair");
        assert_eq!(counts.iter().sum::<usize>(), nll.len(), "every scored token belongs to a sequence");
        let starts = sequence_starts(counts);
        let logps = self.sequence_logps(nll, counts);
        let pairs_count = reference.len() as f64;
        let mut d_nll = vec![0f32; nll.len()];
        let mut pairs = Vec::with_capacity(reference.len());
        let mut loss = 0.0;
        for (p, &reference) in reference.iter().enumerate() {
            let policy = PairLogps { chosen: logps[2 * p], rejected: logps[2 * p + 1] };
            let pair = self.pair_loss(policy, reference);
            loss += pair.loss / pairs_count;
            // log p = -sum(nll) (or its mean): each token's nll moves it by -1 (or -1 / n).
            for (sequence, d_logp) in [(2 * p, pair.d_chosen), (2 * p + 1, pair.d_rejected)] {
                let per_token = if self.averages_tokens() { 1.0 / counts[sequence].max(1) as f64 } else { 1.0 };
                let d = (-d_logp * per_token / pairs_count) as f32;
                d_nll[starts[sequence]..][..counts[sequence]].iter_mut().for_each(|x| *x = d);
            }
            pairs.push((policy, pair));
        }
        BatchLoss { loss, d_nll, pairs }
    }

    /// Each sequence's log-probability (`reply_logps`) from `nll`, which holds the sequences' scored
    /// tokens one sequence after another, `counts` of them each.
    pub fn sequence_logps(&self, nll: &[f32], counts: &[usize]) -> Vec<f64> {
        sequence_starts(counts).iter().zip(counts).map(|(&start, &n)| self.reply_logps(&nll[start..][..n])).collect()
    }

    /// A reply's log-probability from its tokens' negative log-likelihoods: their sum negated, or their
    /// mean for IPO. Summed in order in float64, so the reference's and the policy's agree bit for bit.
    pub fn reply_logps(&self, nll: &[f32]) -> f64 {
        let sum: f64 = nll.iter().map(|&x| x as f64).sum();
        if self.averages_tokens() {
            -sum / nll.len().max(1) as f64
        } else {
            -sum
        }
    }
}

/// TRL's figures over pairs, as means: rewards/chosen, rewards/rejected, rewards/accuracies (the share of
/// pairs whose chosen reward is higher), rewards/margins, logps/chosen, logps/rejected; and the loss.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DpoStats {
    pub pairs: u64,
    pub loss: f64,
    pub rewards_chosen: f64,
    pub rewards_rejected: f64,
    pub rewards_accuracies: f64,
    pub rewards_margins: f64,
    pub logps_chosen: f64,
    pub logps_rejected: f64,
}

impl DpoStats {
    /// The figures over the pairs of all ranks: each rank's means weighed by its pairs.
    pub fn summed(&self, collective: &dyn super::collective::Collective) -> crate::error::Result<DpoStats> {
        let n = self.pairs as f64;
        let mut sums = [
            n,
            self.loss * n,
            self.rewards_chosen * n,
            self.rewards_rejected * n,
            self.rewards_accuracies * n,
            self.rewards_margins * n,
            self.logps_chosen * n,
            self.logps_rejected * n,
        ];
        collective.sum_f64(&mut sums)?;
        let total = sums[0].max(1.0);
        Ok(DpoStats {
            pairs: sums[0] as u64,
            loss: sums[1] / total,
            rewards_chosen: sums[2] / total,
            rewards_rejected: sums[3] / total,
            rewards_accuracies: sums[4] / total,
            rewards_margins: sums[5] / total,
            logps_chosen: sums[6] / total,
            logps_rejected: sums[7] / total,
        })
    }

    pub fn add(&mut self, pairs: &[(PairLogps, PairLoss)]) {
        for (policy, pair) in pairs {
            let n = self.pairs as f64;
            let mean = |old: f64, new: f64| (old * n + new) / (n + 1.0);
            self.loss = mean(self.loss, pair.loss);
            self.rewards_chosen = mean(self.rewards_chosen, pair.chosen_reward);
            self.rewards_rejected = mean(self.rewards_rejected, pair.rejected_reward);
            self.rewards_accuracies = mean(self.rewards_accuracies, f64::from(u8::from(pair.chosen_reward > pair.rejected_reward)));
            self.rewards_margins = mean(self.rewards_margins, pair.chosen_reward - pair.rejected_reward);
            self.logps_chosen = mean(self.logps_chosen, policy.chosen);
            self.logps_rejected = mean(self.logps_rejected, policy.rejected);
            self.pairs += 1;
        }
    }
}

/// Where each sequence's tokens start when sequences of `counts` tokens follow one another.
fn sequence_starts(counts: &[usize]) -> Vec<usize> {
    counts.iter().scan(0, |at, &n| Some(std::mem::replace(at, *at + n))).collect()
}

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// log σ(x) without overflow: -softplus(-x).
fn log_sigmoid(x: f64) -> f64 {
    x.min(0.0) - (-x.abs()).exp().ln_1p()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(loss_type: DpoLossType, label_smoothing: f64) -> DpoOptions {
        DpoOptions { beta: 0.1, loss_type, label_smoothing }
    }

    #[test]
    fn at_the_reference_the_sigmoid_loss_is_log_2_and_the_rewards_zero() {
        let same = PairLogps { chosen: -12.0, rejected: -9.0 };
        let pair = options(DpoLossType::Sigmoid, 0.0).pair_loss(same, same);
        assert!((pair.loss - std::f64::consts::LN_2).abs() < 1e-12);
        assert_eq!((pair.chosen_reward, pair.rejected_reward), (0.0, 0.0));
        // Raising the chosen reply's log-probability lowers the loss: β σ(0) = 0.05.
        assert!((pair.d_chosen + 0.05).abs() < 1e-12 && (pair.d_rejected - 0.05).abs() < 1e-12);
    }

    #[test]
    fn gradients_match_finite_differences() {
        let reference = PairLogps { chosen: -20.0, rejected: -18.5 };
        for (loss_type, smoothing) in [(DpoLossType::Sigmoid, 0.0), (DpoLossType::Sigmoid, 0.2), (DpoLossType::Ipo, 0.0)] {
            let dpo = options(loss_type, smoothing);
            for policy in [PairLogps { chosen: -19.0, rejected: -25.0 }, PairLogps { chosen: -30.0, rejected: -10.0 }] {
                let h = 1e-6;
                let at = |chosen: f64, rejected: f64| dpo.pair_loss(PairLogps { chosen, rejected }, reference).loss;
                let d_chosen = (at(policy.chosen + h, policy.rejected) - at(policy.chosen - h, policy.rejected)) / (2.0 * h);
                let d_rejected = (at(policy.chosen, policy.rejected + h) - at(policy.chosen, policy.rejected - h)) / (2.0 * h);
                let pair = dpo.pair_loss(policy, reference);
                assert!((pair.d_chosen - d_chosen).abs() < 1e-6, "{loss_type:?} {smoothing}: {} vs {d_chosen}", pair.d_chosen);
                assert!((pair.d_rejected - d_rejected).abs() < 1e-6, "{loss_type:?} {smoothing}: {} vs {d_rejected}", pair.d_rejected);
            }
        }
    }

    #[test]
    fn a_huge_margin_neither_overflows_nor_loses_the_gradient_sign() {
        let reference = PairLogps::default();
        let far = options(DpoLossType::Sigmoid, 0.0).pair_loss(PairLogps { chosen: 0.0, rejected: -1e5 }, reference);
        assert!(far.loss >= 0.0 && far.loss < 1e-300 && far.d_chosen <= 0.0);
        let wrong = options(DpoLossType::Sigmoid, 0.0).pair_loss(PairLogps { chosen: -1e5, rejected: 0.0 }, reference);
        assert!((wrong.loss - 1e4).abs() < 1e-6 && (wrong.d_chosen + 0.1).abs() < 1e-12);
    }
}
