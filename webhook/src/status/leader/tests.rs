//! The election against an in-process fake Lease API (one Lease, resourceVersion
//! checks, switchable outage) on tokio's paused clock.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use kube::Client;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use super::*;

const LEASE_DURATION: Duration = Duration::from_secs(15);

#[derive(Default)]
struct State {
    lease: Option<Value>,
    version: u64,
    failing: bool,
}

#[derive(Clone, Default)]
struct FakeLeases(Arc<Mutex<State>>);

impl FakeLeases {
    fn client(&self) -> Client {
        let fake = self.clone();
        let service = tower::service_fn(move |req: Request<kube::client::Body>| {
            let fake = fake.clone();
            async move { Ok::<_, Infallible>(fake.handle(req).await) }
        });
        Client::new(service, "ns")
    }

    async fn handle(&self, req: Request<kube::client::Body>) -> Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        let (code, json) = self.answer(&parts.method, &body);
        Response::builder()
            .status(code)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(json.to_string())))
            .unwrap()
    }

    fn answer(&self, method: &Method, body: &[u8]) -> (StatusCode, Value) {
        let mut state = self.0.lock().unwrap();
        if state.failing {
            return status(500, "InternalError");
        }
        let sent: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        match (method.as_str(), &state.lease) {
            ("GET", Some(lease)) => (StatusCode::OK, lease.clone()),
            ("GET" | "PUT", None) => status(404, "NotFound"),
            ("POST", Some(_)) => status(409, "AlreadyExists"),
            ("PUT", Some(lease))
                if lease["metadata"]["resourceVersion"] != sent["metadata"]["resourceVersion"] =>
            {
                status(409, "Conflict")
            }
            ("POST" | "PUT", _) => {
                state.version += 1;
                let mut stored = sent;
                stored["metadata"]["resourceVersion"] = json!(state.version.to_string());
                state.lease = Some(stored.clone());
                (StatusCode::OK, stored)
            }
            _ => status(405, "MethodNotAllowed"),
        }
    }

    fn spec(&self) -> LeaseSpec {
        let lease = self.0.lock().unwrap().lease.clone().unwrap();
        serde_json::from_value(lease["spec"].clone()).unwrap()
    }

    fn set_failing(&self, failing: bool) {
        self.0.lock().unwrap().failing = failing;
    }
}

fn status(code: u16, reason: &str) -> (StatusCode, Value) {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": reason, "reason": reason, "code": code});
    (StatusCode::from_u16(code).unwrap(), body)
}

fn settings(identity: &str) -> LeaseSettings {
    LeaseSettings {
        name: "agentnet-policy-status".into(),
        identity: identity.into(),
        lease_duration: LEASE_DURATION,
        renew_deadline: Duration::from_secs(10),
        retry_period: Duration::from_secs(2),
    }
}

struct Replica {
    leadership: Leadership,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

fn start(fake: &FakeLeases, identity: &str) -> Replica {
    let (tx, leadership) = channel();
    let (stop, stopped) = watch::channel(false);
    let api = Api::namespaced(fake.client(), "ns");
    let task = tokio::spawn(elect(api, settings(identity), tx, stopped));
    Replica {
        leadership,
        stop,
        task,
    }
}

async fn wait(secs: f64) {
    tokio::time::sleep(Duration::from_secs_f64(secs)).await;
}

#[tokio::test(start_paused = true)]
async fn exactly_one_of_two_replicas_leads_and_keeps_leading() {
    let fake = FakeLeases::default();
    let (a, b) = (start(&fake, "a"), start(&fake, "b"));
    wait(5.0).await;
    let leaders = [a.leadership.is_leader(), b.leadership.is_leader()];
    assert_eq!(leaders.iter().filter(|l| **l).count(), 1, "{leaders:?}");
    let holder = if leaders[0] { "a" } else { "b" };
    assert_eq!(fake.spec().holder_identity.as_deref(), Some(holder));
    wait(120.0).await;
    assert_eq!(
        leaders,
        [a.leadership.is_leader(), b.leadership.is_leader()]
    );
    assert_eq!(fake.spec().lease_transitions, Some(0), "no flapping");
}

#[tokio::test(start_paused = true)]
async fn a_stopping_leader_releases_and_the_other_takes_over_at_once() {
    let fake = FakeLeases::default();
    let a = start(&fake, "a");
    wait(1.0).await;
    let b = start(&fake, "b");
    wait(5.0).await;
    assert!(a.leadership.is_leader() && !b.leadership.is_leader());
    a.stop.send(true).unwrap();
    a.task.await.unwrap();
    assert!(!a.leadership.is_leader());
    assert_eq!(fake.spec().holder_identity, None, "released");
    wait(2.5).await;
    assert!(
        b.leadership.is_leader(),
        "well before the 15 s lease duration"
    );
    assert_eq!(fake.spec().lease_transitions, Some(1));
}

#[tokio::test(start_paused = true)]
async fn a_crashed_leader_is_replaced_only_after_the_lease_duration() {
    let fake = FakeLeases::default();
    let a = start(&fake, "a");
    wait(1.0).await;
    let b = start(&fake, "b");
    wait(1.0).await;
    a.task.abort();
    wait(12.0).await;
    assert!(!b.leadership.is_leader(), "the lease has not expired yet");
    wait(8.0).await;
    assert!(b.leadership.is_leader());
    assert_eq!(fake.spec().holder_identity.as_deref(), Some("b"));
}

#[tokio::test(start_paused = true)]
async fn a_leader_that_cannot_renew_stops_before_others_may_take_over() {
    let fake = FakeLeases::default();
    let mut a = start(&fake, "a");
    wait(1.0).await;
    assert!(a.leadership.is_leader());
    a.leadership.changed().await.ok(); // consume the gain
    fake.set_failing(true);
    let failed_at = Instant::now();
    a.leadership.changed().await.unwrap();
    let lost_after = failed_at.elapsed();
    assert!(!a.leadership.is_leader());
    assert!(lost_after <= Duration::from_secs(10), "{lost_after:?}");
    assert!(lost_after < LEASE_DURATION);
    fake.set_failing(false);
    wait(3.0).await;
    assert!(a.leadership.is_leader(), "still the holder: renews again");
}

#[test]
fn decide_takes_free_or_expired_leases_and_renews_its_own() {
    let held_by = |holder: Option<&str>| LeaseSpec {
        holder_identity: holder.map(Into::into),
        lease_duration_seconds: Some(15),
        ..LeaseSpec::default()
    };
    let (zero, long) = (Duration::ZERO, Duration::from_secs(15));
    assert_eq!(decide(&held_by(None), "a", zero, long), Step::Take);
    assert_eq!(decide(&held_by(Some("")), "a", zero, long), Step::Take);
    assert_eq!(decide(&held_by(Some("a")), "a", zero, long), Step::Renew);
    assert_eq!(
        decide(
            &held_by(Some("b")),
            "a",
            long - Duration::from_millis(1),
            long
        ),
        Step::Follow
    );
    assert_eq!(decide(&held_by(Some("b")), "a", long, long), Step::Take);
    let mut released = held_by(Some("b"));
    released.lease_duration_seconds = Some(1);
    assert_eq!(
        decide(&released, "a", Duration::from_secs(1), long),
        Step::Take
    );
}

#[test]
fn claim_counts_transitions_and_keeps_the_acquire_time_on_renewal() {
    let s = settings("a");
    let t = |sec| Timestamp::from_second(sec).unwrap();
    let created = claim(None, &s, t(10));
    assert_eq!(created.lease_transitions, Some(0));
    assert_eq!(created.lease_duration_seconds, Some(15));
    let renewed = claim(Some(&created), &s, t(20));
    assert_eq!(renewed.acquire_time, Some(MicroTime(t(10))));
    assert_eq!(renewed.renew_time, Some(MicroTime(t(20))));
    assert_eq!(renewed.lease_transitions, Some(0));
    let taken = claim(Some(&renewed), &settings("b"), t(40));
    assert_eq!(taken.holder_identity.as_deref(), Some("b"));
    assert_eq!(taken.acquire_time, Some(MicroTime(t(40))));
    assert_eq!(taken.lease_transitions, Some(1));
}
