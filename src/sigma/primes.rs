//! The sieving primes: the odd primes up to √max, by a plain sieve of
//! Eratosthenes, made once per kernel.

/// The odd primes up to `limit`, by a plain sieve of Eratosthenes over the
/// odd numbers (a transient ⌈limit/2⌉ bytes: 1.6 MB at the largest max).
pub(super) fn odd_primes_upto(limit: u64) -> Vec<u32> {
    let limit = limit as usize;
    let mut composite = vec![false; limit / 2 + 1]; // index k stands for 2k+1
    let mut primes = Vec::new();
    let mut k = 1;
    while 2 * k < limit {
        if !composite[k] {
            let p = 2 * k + 1;
            primes.push(p as u32);
            let mut j = p * p / 2;
            while j < composite.len() {
                composite[j] = true;
                j += p;
            }
        }
        k += 1;
    }
    primes
}
