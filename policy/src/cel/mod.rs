//! CEL authorization rules: compiled and checked against our vocabulary once, when the
//! index is built, and evaluated against a request's bound variables.

mod bind;
mod validate;

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use cel::extractors::This;
use cel::parser::{Expression, PrattParser};
use cel::{Context, Env, ExecutionError, Value};
use regex::Regex;

pub(crate) use bind::Activation;

/// Every variable an expression may reference (a prefix: `request.headers['x']` and
/// `request.mcp.arguments.a.b` select inside them), and the binding it needs.
pub(crate) const VOCABULARY: &[(&str, Needs)] = &[
    ("request.mcp.tool_name", Needs::MCP_TOOL),
    ("request.path", Needs::PATH),
    ("request.url_path", Needs::URL_PATH),
    ("request.method", Needs::METHOD),
    ("request.host", Needs::HOST),
    ("request.headers", Needs::HEADERS),
    ("request.time", Needs::TIME),
    ("request.mcp.method", Needs::MCP_METHOD),
    ("request.mcp.arguments", Needs::MCP_ARGS),
    ("request.mcp.resource_uri", Needs::MCP_URI),
    ("request.a2a.method", Needs::A2A_METHOD),
    ("request.a2a.skill", Needs::A2A_SKILL),
    ("source.spiffe_id", Needs::SRC_SPIFFE),
    ("source.namespace", Needs::SRC_NS),
    ("source.service_account", Needs::SRC_SA),
];

/// The CEL variables policies may read (upstream's and agentnet's), for docs and errors.
pub fn variables() -> impl Iterator<Item = &'static str> {
    VOCABULARY.iter().map(|(name, _)| *name)
}

/// Which variables a set of expressions reads, so a request binds only those.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Needs(u16);

/// A compiled CEL authorization; cheap to clone, so recompiling reuses it.
#[derive(Clone, Debug)]
pub(crate) struct CelRule {
    expression: Arc<str>,
    program: Arc<Expression>,
    pub needs: Needs,
    /// The literal patterns its `matches` calls use, compiled.
    regexes: Arc<[(String, Regex)]>,
}

/// Compiles rules, collecting the regexes their `matches` calls use. Parsing dominates
/// compile time, so each distinct expression is parsed once, and a recompile reuses
/// the rules of the index it replaces.
#[derive(Default)]
pub(crate) struct CelCompiler {
    regexes: HashMap<String, Regex>,
    cache: HashMap<Arc<str>, CelRule>,
}

/// Evaluates compiled rules; holds the `matches` function and its compiled regexes.
pub(crate) struct CelEngine {
    root: Context<'static, 'static>,
}

/// Bounds on one expression, so no policy can exhaust a stack or make evaluation slow.
const MAX_LEN: usize = 4096;
const MAX_MACRO_NODES: usize = 10_000;

static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| {
    let mut env = Env::stdlib();
    // Upstream's environment adds cel-go's ext.Strings(); this is its counterpart. It
    // declares nothing the stdlib does; were it ever to, its functions would be missing,
    // expressions using them would fail to evaluate, and their rules would not match.
    let _ = env.add_extension(cel::extensions::strings);
    Arc::new(env)
});

// === impl Needs ===

impl Needs {
    pub const PATH: Needs = Needs(1);
    pub const URL_PATH: Needs = Needs(1 << 1);
    pub const METHOD: Needs = Needs(1 << 2);
    pub const HOST: Needs = Needs(1 << 3);
    pub const HEADERS: Needs = Needs(1 << 4);
    pub const TIME: Needs = Needs(1 << 5);
    pub const MCP_TOOL: Needs = Needs(1 << 6);
    pub const MCP_METHOD: Needs = Needs(1 << 7);
    pub const MCP_ARGS: Needs = Needs(1 << 8);
    pub const MCP_URI: Needs = Needs(1 << 9);
    pub const A2A_METHOD: Needs = Needs(1 << 10);
    pub const A2A_SKILL: Needs = Needs(1 << 11);
    pub const SRC_SPIFFE: Needs = Needs(1 << 12);
    pub const SRC_NS: Needs = Needs(1 << 13);
    pub const SRC_SA: Needs = Needs(1 << 14);
    pub const MCP: Needs =
        Needs(Self::MCP_TOOL.0 | Self::MCP_METHOD.0 | Self::MCP_ARGS.0 | Self::MCP_URI.0);
    pub const A2A: Needs = Needs(Self::A2A_METHOD.0 | Self::A2A_SKILL.0);

    pub fn has(self, other: Needs) -> bool {
        self.0 & other.0 != 0
    }

    pub fn union(self, other: Needs) -> Needs {
        Needs(self.0 | other.0)
    }
}

// === impl CelRule ===

impl CelRule {
    /// Upstream admits only `tools/call` through a CEL rule. A rule that reads
    /// `request.mcp.method` is evaluated for every MCP request instead.
    pub fn admits_any_mcp_method(&self) -> bool {
        self.needs.has(Needs::MCP_METHOD)
    }

    /// A rule that reads `request.a2a.*` is evaluated for every A2A request.
    pub fn admits_a2a(&self) -> bool {
        self.needs.has(Needs::A2A)
    }
}

// === impl CelCompiler ===

impl CelCompiler {
    /// A compiler that reuses `previous` rules (by expression text).
    pub fn reusing<'a>(previous: impl Iterator<Item = &'a CelRule>) -> Self {
        let cache = previous
            .map(|r| (r.expression.clone(), r.clone()))
            .collect();
        CelCompiler {
            regexes: HashMap::new(),
            cache,
        }
    }

    /// Compiles `expression`, or returns upstream's status message for InvalidCEL.
    pub fn compile(&mut self, expression: &str) -> Result<CelRule, String> {
        let rule = match self.cache.get(expression) {
            Some(rule) => rule.clone(),
            None => {
                let rule = parse(expression)?;
                self.cache.insert(rule.expression.clone(), rule.clone());
                rule
            }
        };
        for (pattern, regex) in rule.regexes.iter() {
            self.regexes.insert(pattern.clone(), regex.clone());
        }
        Ok(rule)
    }

    pub fn finish(self) -> CelEngine {
        CelEngine::new(self.regexes)
    }
}

fn parse(expression: &str) -> Result<CelRule, String> {
    let failed = |why: String| format!("Failed to compile CEL expression {expression:?}: {why}");
    // cel's Pratt parser: the same AST as its ANTLR one, about 20 times faster, which
    // keeps compiling 1,000 CEL policies within budget.
    if expression.len() > MAX_LEN {
        return Err(failed(format!(
            "the expression is longer than {MAX_LEN} bytes"
        )));
    }
    let parser = PrattParser::new()
        .enable_optional_syntax(true)
        .max_expression_node_count(MAX_MACRO_NODES);
    let program = parser
        .parse(expression)
        .map_err(|e| failed(e.to_string()))?;
    let checked = validate::check(&program).map_err(failed)?;
    let regexes = checked.patterns.into_iter().map(|pattern| {
        let regex = Regex::new(&pattern);
        regex
            .map(|r| (pattern, r))
            .map_err(|e| failed(format!("invalid regular expression in matches(): {e}")))
    });
    Ok(CelRule {
        expression: expression.into(),
        program: Arc::new(program),
        needs: checked.needs,
        regexes: regexes.collect::<Result<_, _>>()?,
    })
}

// === impl CelEngine ===

impl CelEngine {
    fn new(regexes: HashMap<String, Regex>) -> Self {
        let regexes = Arc::new(regexes);
        let mut root = Context::with_env(ENV.clone());
        let matches = move |This(text): This<Arc<String>>, pattern: Arc<String>| match regexes
            .get(pattern.as_str())
        {
            Some(re) => Ok(re.is_match(&text)),
            // A pattern computed at run time; compiled here, as the stdlib would.
            None => Regex::new(&pattern)
                .map(|re| re.is_match(&text))
                .map_err(|e| ExecutionError::function_error("matches", e)),
        };
        // Refused only if something enables cel's `regex` feature: its own `matches`
        // (same semantics, a regex compiled per call) then serves.
        let _ = root.add_function("matches", matches);
        CelEngine { root }
    }

    /// True when the expression holds; an evaluation error (a missing header, a type
    /// mismatch) is reported, and the rule does not match.
    pub fn evaluate(&self, rule: &CelRule, activation: &Activation<'_>) -> Result<bool, String> {
        let mut context = self.root.new_inner_scope();
        context.set_variable_resolver(activation);
        match context.resolve(&rule.program) {
            Ok(Value::Bool(b)) => Ok(b),
            Ok(other) => Err(format!("the expression returned {other:?}, not a bool")),
            Err(e) => Err(e.to_string()),
        }
    }
}

impl std::fmt::Debug for CelEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CelEngine")
    }
}

#[cfg(test)]
mod tests;
