//! How far each policy has reached on this replica: for its current generation, how
//! many connected sidecars it can apply to (`affected`) and how many of those hold a
//! view of that generation or later and acknowledged it (`programmed`). Each replica
//! publishes this (`progress_writer`); the status leader adds every replica's up into
//! the policies' `Programmed` condition (`status::programmed`).

use std::collections::{BTreeMap, HashMap};

use agentnet_policy::PolicyRef;
use serde::{Deserialize, Serialize};

use super::sessions::Session;

/// Label of the ConfigMaps that carry replicas' progress, in the release namespace.
pub const LABEL: &str = "agentnet.dev/policy-progress";
/// Their data key.
pub const KEY: &str = "progress.json";

/// One replica's report.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// Unix seconds of the write: a report not renewed for a while is a replica gone.
    pub renewed: u64,
    /// By `<namespace>/<name>` (`PolicyRef`'s display).
    pub policies: BTreeMap<String, PolicyProgress>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyProgress {
    /// The policy's `metadata.generation` this replica serves.
    pub generation: i64,
    pub affected: u32,
    pub programmed: u32,
}

/// Every policy of the cut (`since`: its generation and the first cut holding it) and
/// where it stands in `sessions`.
pub fn of(
    sessions: &[Session],
    since: &HashMap<PolicyRef, (i64, u64)>,
) -> BTreeMap<String, PolicyProgress> {
    let mut out: BTreeMap<String, PolicyProgress> = since
        .iter()
        .map(|(p, (generation, _))| {
            let progress = PolicyProgress {
                generation: *generation,
                ..PolicyProgress::default()
            };
            (p.to_string(), progress)
        })
        .collect();
    for s in sessions {
        let synced = s.synced();
        for p in s.applies.iter() {
            let (Some((_, first)), Some(entry)) = (since.get(p), out.get_mut(&p.to_string()))
            else {
                continue;
            };
            entry.affected += 1;
            if synced && s.generation >= *first {
                entry.programmed += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(name: &str) -> PolicyRef {
        PolicyRef {
            namespace: "agents".into(),
            name: name.into(),
        }
    }

    fn session(applies: &[&str], generation: u64, sent: &str, applied: Option<&str>) -> Session {
        Session {
            version: Some(sent.into()),
            applied_version: applied.map(str::to_owned),
            generation,
            applies: applies.iter().map(|n| policy(n)).collect::<Vec<_>>().into(),
            ..Session::default()
        }
    }

    #[test]
    fn a_policy_is_programmed_in_the_synced_sidecars_that_hold_its_generation() {
        // `tools` reached generation 3 at cut 7; `other` has been at 1 since cut 2.
        let since = HashMap::from([(policy("tools"), (3, 7)), (policy("other"), (1, 2))]);
        let sessions = [
            session(&["tools"], 7, "v7", Some("v7")), // holds it
            session(&["tools"], 8, "v8", Some("v8")), // holds a later cut
            session(&["tools"], 7, "v7", Some("v6")), // sent, not acknowledged yet
            session(&["tools"], 6, "v6", Some("v6")), // not sent the new view yet
            session(&["other"], 6, "v6", Some("v6")), // `tools` does not apply to it
        ];
        let progress = of(&sessions, &since);
        assert_eq!(
            progress["agents/tools"],
            PolicyProgress {
                generation: 3,
                affected: 4,
                programmed: 2
            }
        );
        assert_eq!(
            progress["agents/other"],
            PolicyProgress {
                generation: 1,
                affected: 1,
                programmed: 1
            }
        );
        // A policy no connected sidecar is affected by is reported all the same.
        let alone = of(&[], &since);
        assert_eq!((alone.len(), alone["agents/tools"].affected), (2, 0));
    }
}
