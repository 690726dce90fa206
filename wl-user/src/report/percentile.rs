//! Latency percentiles from a row's log2 histogram: what the JSON report's `p50_ns`,
//! `p90_ns`, `p99_ns` hold and what `wl-user diff` compares.

/// The `q`-quantile (0 < q ≤ 1) of a syscall's timed calls, estimated from its log2
/// histogram (`hist[b]` counts calls of `[2^(b-1), 2^b)` ns; bucket 0 those under 1 ns;
/// the last bucket everything above) and its exact fastest and slowest call.
///
/// Method: take the call of rank `ceil(q × n)` among the `n` timed calls, find the bucket
/// that holds it, and place it linearly inside that bucket by its rank there (the
/// bucket's k-th of m calls at `lo + (hi - lo) × k / m`); then clamp to
/// `[min_ns, max_ns]`.
///
/// Error bound: the true value and the estimate lie in the same bucket, whose upper end
/// is twice its lower end, so the estimate is within a factor of 2 of the truth. The
/// clamp can only bring it closer: in the bucket holding the fastest or the slowest
/// call the range shrinks to `[min_ns, hi)` or `[lo, max_ns]`, and when every call
/// took the same time (`min_ns == max_ns`) the estimate is exact.
///
/// 0 when nothing was timed.
pub fn percentile(hist: &[u64], q: f64, min_ns: u64, max_ns: u64) -> u64 {
    let n: u64 = hist.iter().sum();
    if n == 0 {
        return 0;
    }
    let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
    let mut before = 0;
    for (b, &m) in hist.iter().enumerate() {
        if m == 0 || before + m < rank {
            before += m;
            continue;
        }
        let (lo, hi) = match b {
            0 => (0.0, 1.0),
            // The kernel side's last bucket has no upper end: the slowest call is one.
            _ if b + 1 == wl_common::LATENCY_BUCKETS => {
                let lo = 2f64.powi(b as i32 - 1);
                (lo, lo.max(max_ns as f64))
            }
            _ => (2f64.powi(b as i32 - 1), 2f64.powi(b as i32)),
        };
        let k = (rank - before) as f64;
        let estimate = lo + (hi - lo) * k / m as f64;
        // min ≤ max in any report; `max(min)` keeps a damaged one from panicking.
        return (estimate.round() as u64).clamp(min_ns, max_ns.max(min_ns));
    }
    unreachable!("rank {rank} is at most the {n} calls counted")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_timed_is_zero() {
        assert_eq!(percentile(&[], 0.5, 0, 0), 0);
        assert_eq!(percentile(&[0, 0, 0], 0.99, 0, 0), 0);
    }

    #[test]
    fn interpolates_inside_the_bucket() {
        // 10 calls in bucket 11, [1024, 2048) ns; the 5th is halfway through it.
        let mut hist = vec![0; 12];
        hist[11] = 10;
        assert_eq!(percentile(&hist, 0.5, 1024, 2047), 1024 + 512);
        // The 9th (ceil(0.9 × 10)) of 10.
        assert_eq!(percentile(&hist, 0.9, 1024, 2047), 1024 + 922);
        // The 10th is the bucket's top, clamped to the slowest call.
        assert_eq!(percentile(&hist, 0.99, 1024, 2000), 2000);
    }

    #[test]
    fn finds_the_bucket_of_the_ranked_call() {
        // 90 calls of [256, 512) ns, 10 of [8192, 16384).
        let mut hist = vec![0; 15];
        hist[9] = 90;
        hist[14] = 10;
        let p50 = percentile(&hist, 0.5, 300, 16_000);
        assert_eq!(p50, 256 + 256 * 50 / 90);
        let p90 = percentile(&hist, 0.9, 300, 16_000);
        assert_eq!(p90, 512, "the 90th call is the last of the low bucket");
        let p99 = percentile(&hist, 0.99, 300, 16_000);
        assert_eq!(p99, 15_565, "the 9th of 10 in [8192, 16384)");
    }

    #[test]
    fn clamps_to_the_fastest_and_slowest_call() {
        // One call, 700 ns: bucket 10, [512, 1024). Exact, whatever the quantile.
        let mut hist = vec![0; 11];
        hist[10] = 1;
        for q in [0.5, 0.9, 0.99] {
            assert_eq!(percentile(&hist, q, 700, 700), 700);
        }
        // The low end of a bucket is lifted to the fastest call.
        hist[10] = 100;
        assert_eq!(percentile(&hist, 0.001, 700, 900), 700);
    }

    #[test]
    fn sub_nanosecond_and_open_ended_buckets() {
        assert_eq!(percentile(&[4], 0.5, 0, 0), 0);
        // The last bucket reaches up to the slowest call, not to 2^31.
        let mut hist = vec![0; wl_common::LATENCY_BUCKETS];
        hist[wl_common::LATENCY_BUCKETS - 1] = 2;
        let lo = 1u64 << (wl_common::LATENCY_BUCKETS - 2);
        let max = 5 * lo;
        assert_eq!(percentile(&hist, 0.5, lo, max), lo + (max - lo) / 2);
        assert_eq!(percentile(&hist, 0.99, lo, max), max);
    }

    #[test]
    fn within_a_factor_of_two_of_the_truth() {
        // Times spread over several buckets; every estimate is within 2x of the sorted truth.
        let times: Vec<u64> = (0..1000).map(|i| 100 + i * i / 7).collect();
        let mut hist = vec![0u64; wl_common::LATENCY_BUCKETS];
        for &t in &times {
            hist[64 - t.leading_zeros() as usize] += 1;
        }
        let (min, max) = (times[0], times[999]);
        for q in [0.01, 0.25, 0.5, 0.9, 0.99, 1.0] {
            let truth = times[((q * 1000.0_f64).ceil() as usize).clamp(1, 1000) - 1] as f64;
            let est = percentile(&hist, q, min, max) as f64;
            assert!(
                est <= 2.0 * truth && truth <= 2.0 * est,
                "q {q}: {est} vs {truth}"
            );
        }
    }
}
