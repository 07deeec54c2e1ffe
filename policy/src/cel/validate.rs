//! Checks a parsed expression against the vocabulary: every `request.*` / `source.*`
//! path must be one we bind (upstream rejects unknown `request.X` the same way), and
//! every other identifier must be a comprehension variable or a type name.

use cel::common::ast::operators::INDEX;
use cel::common::ast::{CallExpr, ComprehensionExpr, EntryExpr, Expr, IdedExpr, LiteralValue};

use super::{Needs, VOCABULARY};

/// What an expression reads and the literal regexes it matches against.
pub(super) struct Checked {
    pub needs: Needs,
    pub patterns: Vec<String>,
    depth: usize,
}

/// Deeper expressions are refused: checking and evaluating recurse once per level, and
/// the interpreter's frames are large (an unoptimized build overflows a 2 MiB stack at
/// about 70 levels).
pub(super) const MAX_DEPTH: usize = 32;

/// Identifiers CEL resolves to types, e.g. `type(x) == string`.
const TYPE_NAMES: &[&str] = &[
    "bool",
    "bytes",
    "double",
    "duration",
    "dyn",
    "int",
    "list",
    "map",
    "null_type",
    "string",
    "timestamp",
    "type",
    "uint",
];

pub(super) fn check(expr: &IdedExpr) -> Result<Checked, String> {
    let mut checked = Checked {
        needs: Needs::default(),
        patterns: Vec::new(),
        depth: 0,
    };
    walk(expr, &mut Vec::new(), &mut checked)?;
    Ok(checked)
}

fn walk<'e>(expr: &'e IdedExpr, bound: &mut Vec<&'e str>, out: &mut Checked) -> Result<(), String> {
    if out.depth == MAX_DEPTH {
        return Err(format!(
            "the expression nests deeper than {MAX_DEPTH} levels"
        ));
    }
    out.depth += 1;
    let result = walk_node(expr, bound, out);
    out.depth -= 1;
    result
}

fn walk_node<'e>(
    expr: &'e IdedExpr,
    bound: &mut Vec<&'e str>,
    out: &mut Checked,
) -> Result<(), String> {
    if let Some((root, fields)) = static_path(expr) {
        return check_path(root, &fields, bound, out);
    }
    match &expr.expr {
        Expr::Call(call) => walk_call(call, bound, out),
        Expr::Comprehension(c) => walk_comprehension(c, bound, out),
        Expr::List(list) => list.elements.iter().try_for_each(|e| walk(e, bound, out)),
        Expr::Map(map) => map
            .entries
            .iter()
            .try_for_each(|e| walk_entry(&e.expr, bound, out)),
        Expr::Struct(s) => s
            .entries
            .iter()
            .try_for_each(|e| walk_entry(&e.expr, bound, out)),
        Expr::Select(select) => walk(&select.operand, bound, out),
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => Ok(()),
    }
}

fn walk_call<'e>(
    call: &'e CallExpr,
    bound: &mut Vec<&'e str>,
    out: &mut Checked,
) -> Result<(), String> {
    if call.func_name == "matches" {
        collect_pattern(call.args.last(), out);
    }
    let operands = call.target.iter().map(|t| &**t).chain(&call.args);
    operands.into_iter().try_for_each(|e| walk(e, bound, out))
}

fn walk_entry<'e>(
    entry: &'e EntryExpr,
    bound: &mut Vec<&'e str>,
    out: &mut Checked,
) -> Result<(), String> {
    match entry {
        EntryExpr::StructField(f) => walk(&f.value, bound, out),
        EntryExpr::MapEntry(m) => {
            walk(&m.key, bound, out).and_then(|()| walk(&m.value, bound, out))
        }
    }
}

fn walk_comprehension<'e>(
    c: &'e ComprehensionExpr,
    bound: &mut Vec<&'e str>,
    out: &mut Checked,
) -> Result<(), String> {
    walk(&c.iter_range, bound, out)?;
    walk(&c.accu_init, bound, out)?;
    let depth = bound.len();
    bound.extend([c.iter_var.as_str(), c.accu_var.as_str()]);
    bound.extend(c.iter_var2.as_deref());
    let result = [&c.loop_cond, &c.loop_step, &c.result]
        .into_iter()
        .try_for_each(|e| walk(e, bound, out));
    bound.truncate(depth);
    result
}

/// `a.b['c'].d` as (`a`, [`b`, `c`, `d`]); `None` when any step is computed.
fn static_path(expr: &IdedExpr) -> Option<(&str, Vec<&str>)> {
    match &expr.expr {
        Expr::Ident(name) => Some((name.as_str(), Vec::new())),
        Expr::Select(select) => {
            let (root, mut fields) = static_path(&select.operand)?;
            fields.push(select.field.as_str());
            Some((root, fields))
        }
        Expr::Call(call) if call.func_name == INDEX && call.target.is_none() => {
            match call.args.as_slice() {
                [
                    operand,
                    IdedExpr {
                        expr: Expr::Literal(LiteralValue::String(key)),
                        ..
                    },
                ] => {
                    let (root, mut fields) = static_path(operand)?;
                    fields.push(key.inner());
                    Some((root, fields))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

fn check_path(
    root: &str,
    fields: &[&str],
    bound: &[&str],
    out: &mut Checked,
) -> Result<(), String> {
    if out.depth + fields.len() > MAX_DEPTH {
        return Err(format!(
            "the expression nests deeper than {MAX_DEPTH} levels"
        ));
    }
    if bound.contains(&root) || (fields.is_empty() && TYPE_NAMES.contains(&root)) {
        return Ok(());
    }
    if root != "request" && root != "source" {
        return Err(format!(
            "undeclared reference to '{root}' (agentnet declares request and source)"
        ));
    }
    let path: Vec<&str> = std::iter::once(root)
        .chain(fields.iter().copied())
        .collect();
    let needs = vocabulary_needs(&path)
        .ok_or_else(|| format!("unsupported CEL variable {}", path.join(".")))?;
    out.needs = out.needs.union(needs);
    Ok(())
}

/// The binding a path needs, if the vocabulary has a variable it starts with.
fn vocabulary_needs(path: &[&str]) -> Option<Needs> {
    let starts_with = |name: &str| {
        let name: Vec<&str> = name.split('.').collect();
        path.len() >= name.len() && path[..name.len()] == name[..]
    };
    VOCABULARY
        .iter()
        .find(|(name, _)| starts_with(name))
        .map(|(_, needs)| *needs)
}

fn collect_pattern(pattern: Option<&IdedExpr>, out: &mut Checked) {
    if let Some(IdedExpr {
        expr: Expr::Literal(LiteralValue::String(p)),
        ..
    }) = pattern
    {
        out.patterns.push(p.inner().to_owned());
    }
}
