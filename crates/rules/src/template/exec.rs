//! Executing a parsed template: Go's `text/template/exec` rules for dot, variables,
//! fields, pipelines and control structures, with its error messages
//! (`template: NAME:LINE:COL: executing "NAME" at <CONTEXT>: MESSAGE`).

use super::funcs::{self, Env};
use super::gofmt;
use super::parse::{Arg, ArgKind, ControlKind, Node, Number, Pipe, Tree};
use super::value::Value;

/// Go stops runaway `{{template}}` recursion at this depth.
const MAX_DEPTH: usize = 10_000;

enum Flow {
    Normal,
    Break,
    Continue,
}

pub(crate) struct Exec<'a> {
    pub(crate) name: &'a str,
    pub(crate) src: &'a str,
    pub(crate) tree: &'a Tree,
    pub(crate) env: &'a Env<'a>,
    pub(crate) out: String,
    vars: Vec<(String, Value)>,
    depth: usize,
}

type XResult<T> = Result<T, String>;

impl<'a> Exec<'a> {
    pub(crate) fn new(name: &'a str, src: &'a str, tree: &'a Tree, env: &'a Env<'a>) -> Self {
        Exec {
            name,
            src,
            tree,
            env,
            out: String::new(),
            vars: Vec::new(),
            depth: 0,
        }
    }

    pub(crate) fn run(&mut self, data: &Value) -> XResult<()> {
        self.vars.push(("$".into(), data.clone()));
        let tree = self.tree;
        self.walk_list(data, &tree.root).map(|_| ())
    }

    /// Go's error prefix for a failure at byte `pos`, `context` being the node's text.
    fn error(&self, pos: usize, context: &str, msg: impl std::fmt::Display) -> String {
        let before = &self.src[..pos.min(self.src.len())];
        let line = 1 + before.matches('\n').count();
        let col = before.rfind('\n').map_or(pos, |nl| pos - nl - 1);
        let context = if context.chars().count() > 20 {
            format!("{}...", context.chars().take(20).collect::<String>())
        } else {
            context.to_owned()
        };
        format!(
            "template: {name}:{line}:{col}: executing \"{name}\" at <{context}>: {msg}",
            name = self.name
        )
    }

    fn walk_list(&mut self, dot: &Value, list: &[Node]) -> XResult<Flow> {
        for n in list {
            match self.walk(dot, n)? {
                Flow::Normal => {}
                f => return Ok(f),
            }
        }
        Ok(Flow::Normal)
    }

    fn walk(&mut self, dot: &Value, node: &Node) -> XResult<Flow> {
        match node {
            Node::Text(t) => self.out.push_str(t),
            Node::Action(pipe) => {
                let v = self.eval_pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    self.print(&v);
                }
            }
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
            Node::Template { pos, name, pipe } => {
                let context = match pipe {
                    Some(p) => format!(
                        "{{{{template {} {}}}}}",
                        promlite_model::go_quote(name),
                        pipe_text(p)
                    ),
                    None => format!("{{{{template {}}}}}", promlite_model::go_quote(name)),
                };
                let Some(list) = self.tree.defines.get(name) else {
                    return Err(self.error(
                        *pos,
                        &context,
                        format!("template {} not defined", promlite_model::go_quote(name)),
                    ));
                };
                if self.depth >= MAX_DEPTH {
                    return Err(self.error(
                        *pos,
                        &context,
                        format!("exceeded maximum template depth ({MAX_DEPTH})"),
                    ));
                }
                let new_dot = match pipe {
                    Some(p) => self.eval_pipeline(dot, p)?,
                    None => Value::Nil,
                };
                let saved = std::mem::replace(&mut self.vars, vec![("$".into(), new_dot.clone())]);
                self.depth += 1;
                let r = self.walk_list(&new_dot, list);
                self.depth -= 1;
                self.vars = saved;
                r?;
            }
            Node::Control {
                kind,
                pipe,
                list,
                else_list,
            } => {
                let mark = self.vars.len();
                let r = self.control(dot, *kind, pipe, list, else_list.as_deref());
                self.vars.truncate(mark);
                return r;
            }
        }
        Ok(Flow::Normal)
    }

    fn control(
        &mut self,
        dot: &Value,
        kind: ControlKind,
        pipe: &Pipe,
        list: &[Node],
        else_list: Option<&[Node]>,
    ) -> XResult<Flow> {
        if kind == ControlKind::Range {
            return self.range(dot, pipe, list, else_list);
        }
        let v = self.eval_pipeline(dot, pipe)?;
        if v.truth() {
            let d = if kind == ControlKind::With { &v } else { dot };
            self.walk_list(d, list)
        } else if let Some(e) = else_list {
            self.walk_list(dot, e)
        } else {
            Ok(Flow::Normal)
        }
    }

    fn range(
        &mut self,
        dot: &Value,
        pipe: &Pipe,
        list: &[Node],
        else_list: Option<&[Node]>,
    ) -> XResult<Flow> {
        // The declared variables get each key and element, not the whole value.
        let mut p = pipe.clone();
        let decl = std::mem::take(&mut p.decl);
        let v = self.eval_pipeline(dot, &p)?;
        let items: Vec<(Value, Value)> = match &v {
            Value::List(l) => l
                .iter()
                .enumerate()
                .map(|(i, e)| (Value::Int(i as i64), e.clone()))
                .collect(),
            // Go ranges over maps in sorted key order.
            Value::Map(m, _) => m
                .iter()
                .map(|(k, e)| (Value::Str(k.clone()), e.clone()))
                .collect(),
            Value::Int(n) => (0..*n).map(|i| (Value::Int(i), Value::Int(i))).collect(),
            Value::Nil | Value::Invalid => Vec::new(),
            other => {
                let pos = pipe
                    .cmds
                    .first()
                    .and_then(|c| c.args.first())
                    .map_or(0, |a| a.pos);
                return Err(self.error(
                    pos,
                    "range",
                    format!("range can't iterate over {}", {
                        let mut s = String::new();
                        gofmt::sprint_value(other, &mut s);
                        s
                    }),
                ));
            }
        };
        if items.is_empty() {
            return match else_list {
                Some(e) => self.walk_list(dot, e),
                None => Ok(Flow::Normal),
            };
        }
        let mark = self.vars.len();
        for (k, e) in items {
            match decl.as_slice() {
                [one] => self.set_or_push(one, e.clone(), pipe.is_assign, mark)?,
                [a, b] => {
                    self.set_or_push(a, k, pipe.is_assign, mark)?;
                    self.set_or_push(b, e.clone(), pipe.is_assign, mark)?;
                }
                _ => {}
            }
            let f = self.walk_list(&e, list)?;
            self.vars
                .truncate(mark + if pipe.is_assign { 0 } else { decl.len() });
            if let Flow::Break = f {
                break;
            }
        }
        Ok(Flow::Normal)
    }

    fn set_or_push(&mut self, name: &str, v: Value, assign: bool, mark: usize) -> XResult<()> {
        if assign {
            self.assign(name, v)?;
        } else if let Some(slot) = self.vars[mark..].iter_mut().find(|(n, _)| n == name) {
            slot.1 = v;
        } else {
            self.vars.push((name.to_owned(), v));
        }
        Ok(())
    }

    /// `$x = v`: the variable must exist by now (the parser does not check).
    fn assign(&mut self, name: &str, v: Value) -> XResult<()> {
        match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            Some(slot) => {
                slot.1 = v;
                Ok(())
            }
            None => Err(self.error(0, name, format!("undefined variable: {name}"))),
        }
    }

    fn print(&mut self, v: &Value) {
        gofmt::sprint_value(v, &mut self.out);
    }

    fn eval_pipeline(&mut self, dot: &Value, pipe: &Pipe) -> XResult<Value> {
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            value = Some(self.eval_command(dot, &cmd.args, value)?);
        }
        let v = value.unwrap_or(Value::Nil);
        for name in &pipe.decl {
            if pipe.is_assign {
                self.assign(name, v.clone())?;
            } else {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn eval_command(&mut self, dot: &Value, args: &[Arg], final_: Option<Value>) -> XResult<Value> {
        let Some(first) = args.first() else {
            return Ok(Value::Nil);
        };
        match &first.kind {
            ArgKind::Identifier(name) => {
                let text = command_text(args);
                self.call(dot, first.pos, name, &text, &args[1..], final_)
            }
            ArgKind::Field(path) => {
                let v = self.field_chain(
                    first.pos,
                    dot.clone(),
                    path,
                    &format!(".{}", path.join(".")),
                )?;
                self.not_a_function(first, args, final_.as_ref())?;
                Ok(v)
            }
            ArgKind::Variable(name, path) => {
                let base = self.var(first.pos, name)?;
                let ctx = dotted(name, path);
                let v = self.field_chain(first.pos, base, path, &ctx)?;
                self.not_a_function(first, args, final_.as_ref())?;
                Ok(v)
            }
            ArgKind::Chain(pipe, path) => {
                let base = self.eval_pipeline(dot, pipe)?;
                let v = self.field_chain(first.pos, base, path, "(pipeline)")?;
                self.not_a_function(first, args, final_.as_ref())?;
                Ok(v)
            }
            ArgKind::Nil => Err(self.error(first.pos, "nil", "nil is not a command")),
            _ => {
                self.not_a_function(first, args, final_.as_ref())?;
                self.eval_arg(dot, first)
            }
        }
    }

    /// Go's error for arguments given to something that is not a function.
    fn not_a_function(&self, first: &Arg, args: &[Arg], final_: Option<&Value>) -> XResult<()> {
        if args.len() > 1 || final_.is_some() {
            let what = arg_text(first);
            return Err(self.error(
                first.pos,
                &what,
                format!("can't give argument to non-function {what}"),
            ));
        }
        Ok(())
    }

    fn var(&self, pos: usize, name: &str) -> XResult<Value> {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .ok_or_else(|| self.error(pos, name, format!("undefined variable: {name}")))
    }

    fn field_chain(&self, pos: usize, mut v: Value, path: &[String], ctx: &str) -> XResult<Value> {
        for f in path {
            v = self.field(pos, &v, f, ctx)?;
        }
        Ok(v)
    }

    fn field(&self, pos: usize, v: &Value, name: &str, ctx: &str) -> XResult<Value> {
        match v {
            Value::Map(m, strings) => Ok(m.get(name).cloned().unwrap_or(if *strings {
                Value::Str(String::new())
            } else {
                Value::Invalid
            })),
            Value::Struct(fields, ty) => fields
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.clone())
                .ok_or_else(|| {
                    self.error(
                        pos,
                        ctx,
                        format!("can't evaluate field {name} in type {ty}"),
                    )
                }),
            Value::Sample(s) => match name {
                "Labels" => Ok(Value::string_map(&s.labels)),
                "Value" => Ok(Value::Float(s.value)),
                _ => Err(self.error(
                    pos,
                    ctx,
                    format!("can't evaluate field {name} in type *template.sample"),
                )),
            },
            Value::Time(ns) => funcs::time_method(*ns, name).ok_or_else(|| {
                self.error(
                    pos,
                    ctx,
                    format!("can't evaluate field {name} in type *time.Time"),
                )
            }),
            Value::Nil | Value::Invalid => Err(self.error(
                pos,
                ctx,
                format!("nil pointer evaluating interface {{}}.{name}"),
            )),
            other => Err(self.error(
                pos,
                ctx,
                format!(
                    "can't evaluate field {name} in type {}",
                    gofmt::type_name(other)
                ),
            )),
        }
    }

    fn eval_arg(&mut self, dot: &Value, arg: &Arg) -> XResult<Value> {
        Ok(match &arg.kind {
            ArgKind::Dot => dot.clone(),
            ArgKind::Nil => Value::Nil,
            ArgKind::Bool(b) => Value::Bool(*b),
            ArgKind::Str(s, _) => Value::Str(s.clone()),
            ArgKind::Number(Number::Int(i), _) => Value::Int(*i),
            ArgKind::Number(Number::Float(f), _) => Value::Float(*f),
            ArgKind::Field(path) => {
                self.field_chain(arg.pos, dot.clone(), path, &format!(".{}", path.join(".")))?
            }
            ArgKind::Variable(name, path) => {
                let base = self.var(arg.pos, name)?;
                self.field_chain(arg.pos, base, path, name)?
            }
            ArgKind::Chain(pipe, path) => {
                let base = self.eval_pipeline(dot, pipe)?;
                self.field_chain(arg.pos, base, path, "(pipeline)")?
            }
            ArgKind::Identifier(name) => self.call(dot, arg.pos, name, name, &[], None)?,
        })
    }

    fn call(
        &mut self,
        dot: &Value,
        pos: usize,
        name: &str,
        cmd_text: &str,
        args: &[Arg],
        final_: Option<Value>,
    ) -> XResult<Value> {
        // `and` and `or` stop at the first argument that decides the result.
        if name == "and" || name == "or" {
            let total = args.len() + usize::from(final_.is_some());
            if total == 0 {
                return Err(self.error(
                    pos,
                    name,
                    format!("wrong number of args for {name}: want at least 1 got 0"),
                ));
            }
            let mut last = Value::Nil;
            for a in args {
                last = self.eval_arg(dot, a)?;
                if last.truth() != (name == "and") {
                    return Ok(last);
                }
            }
            if let Some(f) = final_ {
                last = f;
            }
            return Ok(last);
        }
        let mut vals = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(self.eval_arg(dot, a)?);
        }
        if let Some(f) = final_ {
            vals.push(f);
        }
        // Go reports bad arguments at the function's name and failures of the call at
        // the whole command.
        funcs::call(self.env, name, &vals).map_err(|e| match e {
            funcs::Failure::Args(m) => self.error(pos, name, m),
            funcs::Failure::Call(m) => self.error(pos, cmd_text, m),
            funcs::Failure::ArgType {
                index,
                expected,
                got,
            } => match args.get(index) {
                Some(node) => self.arg_type_error(node, expected, got),
                None => self.error(
                    pos,
                    name,
                    format!("wrong type for value; expected {expected}; got {got}"),
                ),
            },
        })
    }
}

impl Exec<'_> {
    /// Go's message for an argument of the wrong type: constants are converted to the
    /// parameter's type (and fail as such), other values are checked after evaluation.
    fn arg_type_error(&self, node: &Arg, expected: &str, got: &str) -> String {
        let text = arg_text(node);
        let msg = match (&node.kind, expected) {
            (ArgKind::Nil, _) => format!("cannot assign nil to {expected}"),
            (ArgKind::Number(..) | ArgKind::Bool(_), "string") => {
                format!("expected string; found {text}")
            }
            (ArgKind::Number(..) | ArgKind::Bool(_) | ArgKind::Str(..), _) => {
                format!("can't handle {text} for arg of type {expected}")
            }
            _ => format!("wrong type for value; expected {expected}; got {got}"),
        };
        self.error(node.pos, &text, msg)
    }
}

/// How Go prints an argument node in messages.
fn arg_text(a: &Arg) -> String {
    match &a.kind {
        ArgKind::Dot => ".".into(),
        ArgKind::Nil => "nil".into(),
        ArgKind::Bool(b) => b.to_string(),
        ArgKind::Str(_, text) => text.clone(),
        ArgKind::Number(_, t) => t.clone(),
        ArgKind::Field(p) => format!(".{}", p.join(".")),
        ArgKind::Variable(n, p) => dotted(n, p),
        ArgKind::Chain(p, fields) => {
            let mut s = format!("({})", pipe_text(p));
            for f in fields {
                s.push('.');
                s.push_str(f);
            }
            s
        }
        ArgKind::Identifier(n) => n.clone(),
    }
}

/// How Go prints a pipeline: declarations, then commands joined by ` | `.
fn pipe_text(p: &Pipe) -> String {
    let mut s = String::new();
    if !p.decl.is_empty() {
        s.push_str(&p.decl.join(", "));
        s.push_str(if p.is_assign { " = " } else { " := " });
    }
    let cmds: Vec<String> = p.cmds.iter().map(|c| command_text(&c.args)).collect();
    s.push_str(&cmds.join(" | "));
    s
}

/// How Go prints a command: its arguments joined by spaces.
fn command_text(args: &[Arg]) -> String {
    args.iter().map(arg_text).collect::<Vec<_>>().join(" ")
}

/// `$x` followed by its field chain: `$x.a.b`.
fn dotted(name: &str, path: &[String]) -> String {
    let mut s = name.to_owned();
    for p in path {
        s.push('.');
        s.push_str(p);
    }
    s
}
