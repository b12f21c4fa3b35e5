//! The activation-memory allocator, a pure function: given buffers with sizes and live ranges
//! (inclusive step intervals), assign each an (arena, offset) so that no two buffers whose
//! ranges intersect overlap in memory, every offset is aligned, and every arena stays within
//! the size limit. Greedy (lowest fitting offset) in three orders, keeping the best, which keeps
//! the peak close to the liveness lower bound (the largest total of simultaneously live sizes).

/// One buffer to place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interval {
    pub size: u64,
    /// First step at which the buffer is live.
    pub start: usize,
    /// Last step at which the buffer is live (inclusive).
    pub end: usize,
}

impl Interval {
    pub fn overlaps(&self, o: &Interval) -> bool {
        self.start <= o.end && o.start <= self.end
    }
}

/// Where a buffer was placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    pub arena: usize,
    pub offset: u64,
}

/// The allocator's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allocation {
    pub placements: Vec<Placement>,
    /// Size of each arena in bytes.
    pub arenas: Vec<u64>,
    /// The most bytes simultaneously live, with each size rounded up to the alignment.
    pub lower_bound: u64,
}

impl Allocation {
    /// Total arena bytes (the peak activation memory of the plan).
    pub fn peak(&self) -> u64 {
        self.arenas.iter().sum()
    }
}

pub fn align_up(x: u64, a: u64) -> u64 {
    x.div_ceil(a) * a
}

/// Largest total of aligned sizes live at one step.
pub fn liveness_lower_bound(bufs: &[Interval], align: u64) -> u64 {
    let mut events: Vec<(usize, i128)> = Vec::with_capacity(bufs.len() * 2);
    for b in bufs {
        let s = align_up(b.size.max(1), align) as i128;
        events.push((b.start, s));
        events.push((b.end + 1, -s));
    }
    // Frees at a step happen before allocations at the same step.
    events.sort_by_key(|&(t, d)| (t, d));
    let (mut cur, mut best) = (0i128, 0i128);
    for (_, d) in events {
        cur += d;
        best = best.max(cur);
    }
    best as u64
}

/// Places `bufs` into arenas of at most `max_arena` bytes, offsets multiples of `align`.
/// Fails when one buffer alone exceeds `max_arena`. Greedy placement is tried in three orders
/// (largest first; largest size × lifetime first; longest-lived first, as a long-lived small
/// buffer placed last by size can sit above everything else) and the smallest total is kept.
/// When that total is above the liveness bound, a local search swaps pairs of the best order
/// (a fixed-seed generator, so plans are reproducible), keeping a swap that does not grow the
/// total, until the bound is reached or a budget of about 2·10⁷ buffer comparisons (tens of
/// milliseconds) is spent.
pub fn allocate(bufs: &[Interval], align: u64, max_arena: u64) -> Result<Allocation, String> {
    assert!(align.is_power_of_two());
    let len = |b: &Interval| (b.end - b.start + 1) as u64;
    let keys: [&dyn Fn(&Interval) -> (u64, u64); 3] =
        [&|b| (b.size, 0), &|b| (b.size.saturating_mul(len(b)), b.size), &|b| (len(b), b.size)];
    let total = |a: &[u64]| a.iter().sum::<u64>();
    let mut best: Option<(Vec<usize>, Vec<Placement>, Vec<u64>)> = None;
    for key in keys {
        let mut order: Vec<usize> = (0..bufs.len()).collect();
        // Descending by key; ties by earlier start, then index, for determinism.
        order.sort_by(|&a, &b| {
            key(&bufs[b]).cmp(&key(&bufs[a])).then(bufs[a].start.cmp(&bufs[b].start)).then(a.cmp(&b))
        });
        let (placements, arenas) = place(bufs, &order, align, max_arena)?;
        if best.as_ref().is_none_or(|(_, _, a)| total(&arenas) < total(a)) {
            best = Some((order, placements, arenas));
        }
    }
    let lower_bound = liveness_lower_bound(bufs, align);
    let (order, mut placements, mut arenas) = best.unwrap_or_default();
    let n = bufs.len();
    if total(&arenas) > lower_bound && n >= 2 {
        let budget = (20_000_000 / (n * n)).min(2000);
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            // xorshift64
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let mut cur = total(&arenas);
        let mut cand = order;
        for _ in 0..budget {
            let (i, j) = (next(), next());
            cand.swap(i, j);
            let (p, a) = place(bufs, &cand, align, max_arena)?;
            if total(&a) <= cur {
                cur = total(&a);
                if cur < total(&arenas) {
                    (placements, arenas) = (p, a);
                    if cur == lower_bound {
                        break;
                    }
                }
            } else {
                cand.swap(i, j);
            }
        }
    }
    Ok(Allocation { placements, arenas, lower_bound })
}

/// Greedy placement in `order`: each buffer at the lowest aligned offset of the first arena
/// where it overlaps no time-overlapping buffer already placed; a new arena when none fits.
fn place(bufs: &[Interval], order: &[usize], align: u64, max_arena: u64) -> Result<(Vec<Placement>, Vec<u64>), String> {
    let mut placed: Vec<Vec<(u64, u64, usize)>> = Vec::new(); // per arena: (offset, aligned size, buf)
    let mut placements = vec![Placement { arena: 0, offset: 0 }; bufs.len()];
    let mut arenas: Vec<u64> = Vec::new();
    for &i in order {
        let b = bufs[i];
        let size = align_up(b.size.max(1), align);
        if size > max_arena {
            return Err(format!(
                "a buffer of {} bytes exceeds the largest buffer the adapter allows ({max_arena} bytes)",
                b.size
            ));
        }
        let mut done = false;
        for (a, list) in placed.iter_mut().enumerate() {
            // Occupied ranges of time-overlapping buffers, sorted by offset.
            let mut busy: Vec<(u64, u64)> =
                list.iter().filter(|(_, _, j)| bufs[*j].overlaps(&b)).map(|&(o, s, _)| (o, o + s)).collect();
            busy.sort_unstable();
            let mut off = 0u64;
            for (s, e) in busy {
                if off + size <= s {
                    break;
                }
                off = off.max(align_up(e, align));
            }
            if off + size <= max_arena {
                list.push((off, size, i));
                placements[i] = Placement { arena: a, offset: off };
                arenas[a] = arenas[a].max(off + size);
                done = true;
                break;
            }
        }
        if !done {
            placed.push(vec![(0, size, i)]);
            arenas.push(size);
            placements[i] = Placement { arena: placed.len() - 1, offset: 0 };
        }
    }
    Ok((placements, arenas))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(bufs: &[Interval], align: u64, max: u64, a: &Allocation) {
        for (i, p) in a.placements.iter().enumerate() {
            assert_eq!(p.offset % align, 0, "alignment");
            assert!(p.offset + bufs[i].size <= a.arenas[p.arena], "inside arena");
            assert!(a.arenas[p.arena] <= max, "arena limit");
            for (j, q) in a.placements.iter().enumerate().skip(i + 1) {
                if p.arena == q.arena && bufs[i].overlaps(&bufs[j]) {
                    let (s1, e1) = (p.offset, p.offset + bufs[i].size.max(1));
                    let (s2, e2) = (q.offset, q.offset + bufs[j].size.max(1));
                    assert!(e1 <= s2 || e2 <= s1, "live buffers {i} and {j} overlap in memory");
                }
            }
        }
    }

    #[test]
    fn chain_reuses_memory() {
        // A chain a→b→c→d: only two neighbours are ever live at once.
        let bufs: Vec<Interval> = (0..4).map(|i| Interval { size: 1000, start: i, end: i + 1 }).collect();
        let a = allocate(&bufs, 256, u64::MAX).unwrap();
        check(&bufs, 256, u64::MAX, &a);
        assert_eq!(a.lower_bound, 2 * 1024);
        assert_eq!(a.peak(), 2 * 1024);
    }

    #[test]
    fn local_search_reaches_the_bound_where_greedy_orders_miss_it() {
        // All three greedy orders place these at 9 units (largest first shown); the bound, and
        // the best order, is 8.
        let u = 256;
        let raw = [(2, 4, 4), (2, 3, 4), (3, 4, 4), (4, 1, 3), (1, 3, 5)];
        let bufs: Vec<Interval> = raw.iter().map(|&(s, start, end)| Interval { size: s * u, start, end }).collect();
        let order: Vec<usize> = {
            let mut o: Vec<usize> = (0..bufs.len()).collect();
            o.sort_by_key(|&i| (std::cmp::Reverse(bufs[i].size), bufs[i].start));
            o
        };
        assert_eq!(place(&bufs, &order, u, u64::MAX).unwrap().1, [9 * u]);
        let a = allocate(&bufs, u, u64::MAX).unwrap();
        check(&bufs, u, u64::MAX, &a);
        assert_eq!(a.lower_bound, 8 * u);
        assert_eq!(a.peak(), 8 * u);
    }

    #[test]
    fn respects_arena_limit() {
        let bufs = vec![Interval { size: 600, start: 0, end: 1 }, Interval { size: 600, start: 0, end: 1 }];
        let a = allocate(&bufs, 4, 1000).unwrap();
        check(&bufs, 4, 1000, &a);
        assert_eq!(a.arenas.len(), 2);
        assert!(allocate(&[Interval { size: 2000, start: 0, end: 0 }], 4, 1000).is_err());
    }

    proptest! {
        #[test]
        fn never_overlaps_and_stays_near_bound(
            raw in proptest::collection::vec((1u64..5000, 0usize..40, 0usize..10), 1..60),
            align_pow in 2u32..9,
        ) {
            let align = 1u64 << align_pow;
            let bufs: Vec<Interval> = raw.iter().map(|&(s, st, len)| Interval { size: s, start: st, end: st + len }).collect();
            let a = allocate(&bufs, align, u64::MAX).unwrap();
            check(&bufs, align, u64::MAX, &a);
            prop_assert!(a.peak() >= a.lower_bound);
            // Greedy-by-size is not optimal in general; it must stay within 2× of the bound.
            prop_assert!(a.peak() <= 2 * a.lower_bound, "peak {} bound {}", a.peak(), a.lower_bound);
        }
    }
}
