//! What the demo shows and what it found: the transcript it prints (colours on a
//! terminal, plain text kept for the report) and one typed outcome per check.

use std::io::{IsTerminal, Write};

use serde::Serialize;

/// Every check the demo makes, in the order it makes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    NodeReady,
    ChartInstalled,
    ServersRunning,
    PoliciesAccepted,
    Injected,
    PodRunning,
    SidecarFirst,
    Certified,
    Synced,
    ToolsListFiltered,
    GetSumAllowed,
    EchoDenied,
    EchoRuleNamed,
    PyToolsFiltered,
    PyAddAllowed,
    PySecretDenied,
    EchoAllowedAfterEdit,
    A2aCard,
    A2aSummarizeAllowed,
    A2aTranslateDenied,
    A2aTranslateNotForwarded,
    ExplainNamesRules,
    AuditLines,
    Metrics,
    Teardown,
}

impl Outcome {
    /// Every outcome a complete run reports.
    pub const ALL: [Outcome; 25] = [
        Outcome::NodeReady,
        Outcome::ChartInstalled,
        Outcome::ServersRunning,
        Outcome::PoliciesAccepted,
        Outcome::Injected,
        Outcome::PodRunning,
        Outcome::SidecarFirst,
        Outcome::Certified,
        Outcome::Synced,
        Outcome::ToolsListFiltered,
        Outcome::GetSumAllowed,
        Outcome::EchoDenied,
        Outcome::EchoRuleNamed,
        Outcome::PyToolsFiltered,
        Outcome::PyAddAllowed,
        Outcome::PySecretDenied,
        Outcome::EchoAllowedAfterEdit,
        Outcome::A2aCard,
        Outcome::A2aSummarizeAllowed,
        Outcome::A2aTranslateDenied,
        Outcome::A2aTranslateNotForwarded,
        Outcome::ExplainNamesRules,
        Outcome::AuditLines,
        Outcome::Metrics,
        Outcome::Teardown,
    ];
}

/// One check's result.
#[derive(Clone, Debug, Serialize)]
pub struct Checked {
    pub outcome: Outcome,
    pub ok: bool,
    pub detail: String,
}

/// The printed transcript and the outcomes found so far.
pub struct Transcript {
    colour: bool,
    plain: String,
    pub checks: Vec<Checked>,
}

const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const GREEN: &str = "\x1b[32m";
const RED: &str = "\x1b[31m";
const CYAN: &str = "\x1b[36m";
const RESET: &str = "\x1b[0m";

// === impl Transcript ===

impl Transcript {
    /// Colours only on a terminal, and never with `NO_COLOR` set.
    pub fn new() -> Self {
        let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Transcript {
            colour,
            plain: String::new(),
            checks: Vec::new(),
        }
    }

    fn emit(&mut self, style: &[&str], text: &str) {
        let styled = if self.colour && !style.is_empty() {
            format!("{}{text}{RESET}", style.concat())
        } else {
            text.to_owned()
        };
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{styled}");
        let _ = stdout.flush();
        self.plain.push_str(text);
        self.plain.push('\n');
    }

    pub fn title(&mut self, text: &str) {
        self.emit(&[BOLD], text);
    }

    pub fn step(&mut self, text: &str) {
        self.emit(&[], "");
        self.emit(&[BOLD, CYAN], text);
    }

    pub fn say(&mut self, text: &str) {
        self.emit(&[], &format!("  {text}"));
    }

    /// A command the reader could type.
    pub fn shows(&mut self, command: &str) {
        self.emit(&[DIM], &format!("  $ {command}"));
    }

    /// Output, indented and dimmed.
    pub fn indent(&mut self, text: &str) {
        for line in text.lines() {
            self.emit(&[DIM], &format!("    {line}"));
        }
    }

    /// Records a check and prints it with a tick or a cross.
    pub fn check(&mut self, outcome: Outcome, ok: bool, detail: impl Into<String>) -> bool {
        let detail = detail.into();
        if ok {
            self.emit(&[], &format!("  ✓ {detail}"));
        } else {
            self.emit(&[RED], &format!("  ✗ {detail}"));
        }
        self.checks.push(Checked {
            outcome,
            ok,
            detail,
        });
        ok
    }

    pub fn passed(&self) -> usize {
        self.checks.iter().filter(|c| c.ok).count()
    }

    pub fn failed(&self) -> usize {
        self.checks.len() - self.passed()
    }

    pub fn success(&mut self, text: &str) {
        self.emit(&[BOLD, GREEN], text);
    }

    pub fn failure(&mut self, text: &str) {
        self.emit(&[BOLD, RED], text);
    }

    /// The transcript without colours.
    pub fn plain(&self) -> &str {
        &self.plain
    }
}

impl Default for Transcript {
    fn default() -> Self {
        Self::new()
    }
}
