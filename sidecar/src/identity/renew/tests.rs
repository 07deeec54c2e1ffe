use std::collections::VecDeque;
use std::sync::Mutex;

use tokio::time::Instant;

use super::*;
use crate::identity::testing::{Ca, ID_A};

#[test]
fn renews_at_45_to_55_percent_of_the_remaining_lifetime() {
    let now = SystemTime::now();
    let not_after = now + Duration::from_secs(100);
    assert_eq!(refresh_delay(now, not_after, 0.0), Duration::from_secs(45));
    assert_eq!(refresh_delay(now, not_after, 0.5), Duration::from_secs(50));
    let late = refresh_delay(now, not_after, 0.999_999);
    assert!(late > Duration::from_secs(54) && late < Duration::from_secs(55));
    let expired = now - Duration::from_secs(1);
    assert_eq!(refresh_delay(now, expired, 0.5), Duration::ZERO);
}

#[test]
fn backoff_doubles_from_one_second_and_is_capped_at_150_seconds() {
    let upper = |n| backoff(n, 1.0);
    let steps: Vec<u64> = (1..=9).map(|n| upper(n).as_secs()).collect();
    assert_eq!(steps, [1, 2, 4, 8, 16, 32, 64, 128, 150]);
    assert_eq!(upper(u32::MAX), MAX_BACKOFF);
    assert_eq!(
        backoff(1, 0.0),
        Duration::from_millis(500),
        "jitter halves at most"
    );
    assert!((1..40).all(|n| backoff(n, 0.7) <= MAX_BACKOFF));
}

/// Signs with a CA or fails, as scripted; records when each call came and which
/// certificate the store held then.
struct Scripted {
    ca: Ca,
    lifetime: Duration,
    script: Mutex<VecDeque<bool>>,
    store: Arc<CertStore>,
    calls: Mutex<Vec<(Instant, Option<String>)>>,
    called: tokio::sync::Notify,
}

impl Certify for Arc<Scripted> {
    async fn certify(&self, csr_pem: &str) -> Result<String, CertifyError> {
        let held = self.store.current().map(|s| s.serial().to_owned());
        self.calls.lock().unwrap().push((Instant::now(), held));
        self.called.notify_one();
        match self.script.lock().unwrap().pop_front() {
            Some(true) => Ok(self.ca.sign_csr(csr_pem, self.lifetime)),
            _ => Err(CertifyError::Refused {
                status: 503,
                code: "unavailable".into(),
                message: "the CA is not loaded yet".into(),
            }),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn renews_at_half_life_backs_off_on_failure_and_keeps_the_old_certificate() {
    let store = CertStore::new();
    let ca = Ca::new();
    let trust = TrustStore::new(ca.roots());
    let fake = Arc::new(Scripted {
        ca,
        lifetime: Duration::from_secs(100),
        script: Mutex::new([true, false, false, true, true].into()),
        store: store.clone(),
        calls: Mutex::default(),
        called: tokio::sync::Notify::new(),
    });
    let metrics = IdentityMetrics::default();
    let renewer = Renewer {
        certifier: fake.clone(),
        expected: ID_A.to_owned(),
        trust,
        store: store.clone(),
        metrics: metrics.clone(),
    };
    let task = tokio::spawn(renewer.run());
    while fake.calls.lock().unwrap().len() < 5 {
        fake.called.notified().await;
    }
    task.abort();
    let calls = fake.calls.lock().unwrap().clone();
    let gap = |i: usize| calls[i + 1].0 - calls[i].0;
    let secs = |d: Duration| d.as_secs_f64();
    assert!(
        (44.0..=55.5).contains(&secs(gap(0))),
        "renewal after {:?}",
        gap(0)
    );
    assert!(
        (0.5..=1.0).contains(&secs(gap(1))),
        "first retry after {:?}",
        gap(1)
    );
    assert!(
        (1.0..=2.0).contains(&secs(gap(2))),
        "second retry after {:?}",
        gap(2)
    );
    assert!(
        (44.0..=55.5).contains(&secs(gap(3))),
        "after recovery {:?}",
        gap(3)
    );
    let first = calls[1]
        .1
        .clone()
        .expect("a certificate after the first call");
    assert_eq!(calls[2].1.as_ref(), Some(&first), "kept through a failure");
    assert_eq!(
        calls[3].1.as_ref(),
        Some(&first),
        "kept through two failures"
    );
    assert_ne!(calls[4].1.as_ref(), Some(&first), "replaced once renewed");
    assert_eq!((metrics.renewals_ok(), metrics.renewals_failed()), (3, 2));
}

#[tokio::test(start_paused = true)]
async fn an_invalid_answer_is_a_failure_and_publishes_nothing() {
    let store = CertStore::new();
    let (ca, other) = (Ca::new(), Ca::new());
    let fake = Arc::new(Scripted {
        ca: other,
        lifetime: Duration::from_secs(100),
        script: Mutex::new([true].into()),
        store: store.clone(),
        calls: Mutex::default(),
        called: tokio::sync::Notify::new(),
    });
    let renewer = Renewer {
        certifier: fake.clone(),
        expected: ID_A.to_owned(),
        trust: TrustStore::new(ca.roots()),
        store: store.clone(),
        metrics: IdentityMetrics::default(),
    };
    let e = renewer.renew().await.unwrap_err();
    assert!(matches!(e, RenewError::Invalid(SvidError::Chain(_))), "{e}");
    assert!(store.current().is_none());
}
