//! Which connections the exporter holds, so that nobody can keep a scraper out by
//! opening connections and sending nothing. Both bounds make room rather than refuse
//! while a connection is idle (between requests, in its TLS handshake, or still
//! sending its request headers): the one idle the longest is closed for the newcomer.
//! A peer address never holds more than [`PER_PEER`], so one client can only crowd
//! out its own connections; past [`MAX`] in all, the longest idle of anyone's goes. A
//! newcomer is refused only when every connection it could replace is busy with a
//! request, which the scrape lock and the connection deadline keep short.

use std::{
    collections::BTreeMap,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::Instant,
};

use tokio::sync::Notify;

/// Connections served at once: what a flood of clients can hold (tasks, buffers, TLS
/// state). A scraper needs one or two.
pub const MAX: usize = 64;
/// Connections of one peer address at once. Prometheus keeps one per target; an HA
/// pair or a few tools on one host stay well within it.
pub const PER_PEER: usize = 16;

#[derive(Default)]
pub struct Connections {
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    next_id: u64,
    by_id: BTreeMap<u64, Entry>,
}

struct Entry {
    peer: IpAddr,
    /// Since when it waits for a request; None while one is served.
    idle_since: Option<Instant>,
    evict: Arc<Notify>,
}

/// A connection's place: given up when dropped. The task serving the connection ends
/// it when [`Admitted::evicted`] fires.
pub struct Admitted {
    id: u64,
    connections: Arc<Connections>,
    evict: Arc<Notify>,
}

impl Connections {
    /// Makes room for a connection from `peer` and admits it, or None when every
    /// connection that would have to go is busy.
    pub fn admit(self: &Arc<Self>, peer: IpAddr, now: Instant) -> Option<Admitted> {
        let peer = peer.to_canonical();
        let mut open = self.open.lock().expect("never poisoned");
        let of_peer = open.by_id.values().filter(|e| e.peer == peer).count();
        if of_peer >= PER_PEER && !open.evict_longest_idle(|e| e.peer == peer) {
            return None;
        }
        if open.by_id.len() >= MAX && !open.evict_longest_idle(|_| true) {
            return None;
        }
        let id = open.next_id;
        open.next_id += 1;
        let evict = Arc::new(Notify::new());
        open.by_id.insert(
            id,
            Entry {
                peer,
                idle_since: Some(now),
                evict: evict.clone(),
            },
        );
        Some(Admitted {
            id,
            connections: self.clone(),
            evict,
        })
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.open.lock().expect("never poisoned").by_id.len()
    }

    fn set_idle(&self, id: u64, idle_since: Option<Instant>) {
        if let Some(e) = self.open.lock().expect("never poisoned").by_id.get_mut(&id) {
            e.idle_since = idle_since;
        }
    }
}

impl Open {
    /// Closes the connection among `which` that has been idle the longest; false when
    /// none of them is idle.
    fn evict_longest_idle(&mut self, which: impl Fn(&Entry) -> bool) -> bool {
        let victim = self
            .by_id
            .iter()
            .filter(|(_, e)| which(e))
            .filter_map(|(&id, e)| e.idle_since.map(|t| (t, id)))
            .min();
        let Some((_, id)) = victim else { return false };
        let entry = self.by_id.remove(&id).expect("just found");
        // Stored if the task is not waiting yet: it ends at its next wait.
        entry.evict.notify_one();
        true
    }
}

impl Admitted {
    /// Fires when the connection has been closed to make room for another.
    pub async fn evicted(&self) {
        self.evict.notified().await;
    }

    /// A request is being served: the connection is not to be taken away.
    pub fn busy(&self) -> Busy {
        self.connections.set_idle(self.id, None);
        Busy {
            id: self.id,
            connections: self.connections.clone(),
        }
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.connections
            .open
            .lock()
            .expect("never poisoned")
            .by_id
            .remove(&self.id);
    }
}

/// While it lives, a request is being served; the connection is idle again after.
pub struct Busy {
    id: u64,
    connections: Arc<Connections>,
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.connections.set_idle(self.id, Some(Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn one_peer_crowds_out_only_its_own_idle_connections() {
        let c = Arc::new(Connections::default());
        let t0 = Instant::now();
        let other = c.admit(ip("10.0.0.2"), t0).unwrap();
        let held: Vec<_> = (0..PER_PEER as u64)
            .map(|i| {
                c.admit(ip("127.0.0.1"), t0 + Duration::from_millis(i + 1))
                    .unwrap()
            })
            .collect();
        assert_eq!(c.len(), PER_PEER + 1);
        // The 17th of 127.0.0.1 takes the place of its oldest; 10.0.0.2 keeps its own.
        let _newest = c
            .admit(ip("127.0.0.1"), t0 + Duration::from_secs(1))
            .unwrap();
        assert_eq!(c.len(), PER_PEER + 1);
        let open = c.open.lock().unwrap();
        assert!(!open.by_id.contains_key(&held[0].id));
        assert!(open.by_id.contains_key(&held[1].id));
        assert!(open.by_id.contains_key(&other.id));
    }

    #[test]
    fn the_longest_idle_goes_first_and_busy_ones_never() {
        let c = Arc::new(Connections::default());
        // In the past, so that a connection idle again from now is the youngest.
        let t0 = Instant::now() - Duration::from_secs(10);
        // MAX connections from MAX / PER_PEER peers, none over its own limit.
        let held: Vec<_> = (0..MAX)
            .map(|i| {
                let peer = ip(&format!("10.0.0.{}", i / PER_PEER + 1));
                c.admit(peer, t0 + Duration::from_millis(i as u64)).unwrap()
            })
            .collect();
        // The oldest is serving a request: the next oldest goes instead.
        let busy = held[0].busy();
        let _new = c
            .admit(ip("10.0.1.1"), t0 + Duration::from_secs(1))
            .unwrap();
        {
            let open = c.open.lock().unwrap();
            assert!(open.by_id.contains_key(&held[0].id));
            assert!(!open.by_id.contains_key(&held[1].id));
        }
        drop(busy);
        // Idle again from now: the youngest in idleness, so others go before it.
        let _new = c
            .admit(ip("10.0.1.1"), t0 + Duration::from_secs(2))
            .unwrap();
        let open = c.open.lock().unwrap();
        assert!(open.by_id.contains_key(&held[0].id));
        assert!(!open.by_id.contains_key(&held[2].id));
        drop(open);
        assert_eq!(c.len(), MAX);
    }

    #[test]
    fn a_newcomer_is_refused_only_when_all_are_busy() {
        let c = Arc::new(Connections::default());
        let t0 = Instant::now();
        let held: Vec<_> = (0..PER_PEER)
            .map(|_| c.admit(ip("::1"), t0).unwrap())
            .collect();
        let busy: Vec<_> = held.iter().map(Admitted::busy).collect();
        assert!(c.admit(ip("::1"), t0).is_none());
        drop(busy);
        assert!(c.admit(ip("::1"), t0).is_some());
        // A dropped connection gives its place back.
        drop(held);
        assert_eq!(c.len(), 0);
    }
}
