//! Built-in functions and arithmetic available inside `${...}`, including the
//! sizing functions that turn an RDS instance class into PostgreSQL memory
//! settings in the units RDS expects.

use crate::value::Value;

/// A binary operator inside `${...}`: arithmetic, comparison, logic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

impl BinOp {
    /// Whether the operator computes a number.
    pub fn is_arithmetic(self) -> bool {
        matches!(self, BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod)
    }
}

/// Applies a binary operator. Unknown operands give `Unknown`. Every result
/// is a finite number: integer overflow, division by zero and a number
/// beyond the range of a 64-bit float are errors, never `inf` or `NaN`.
pub fn binary(op: BinOp, a: &Value, b: &Value) -> Result<Value, String> {
    if a.is_unknown() || b.is_unknown() {
        return Ok(Value::Unknown);
    }
    if !op.is_arithmetic() {
        return compare(op, a, b);
    }
    if let (Value::Int(x), Value::Int(y)) = (a, b) {
        let r = match op {
            BinOp::Add => x.checked_add(*y),
            BinOp::Sub => x.checked_sub(*y),
            BinOp::Mul => x.checked_mul(*y),
            BinOp::Div if *y == 0 => return Err("division by zero".into()),
            BinOp::Div => x.checked_div(*y),
            BinOp::Mod if *y == 0 => return Err("division by zero".into()),
            BinOp::Mod => x.checked_rem(*y),
            _ => None,
        };
        return r.map(Value::Int).ok_or_else(|| "integer overflow".to_owned());
    }
    match (as_number(a), as_number(b)) {
        (Some(x), Some(y)) => {
            let r = match op {
                BinOp::Add => x + y,
                BinOp::Sub => x - y,
                BinOp::Mul => x * y,
                BinOp::Div | BinOp::Mod if y == 0.0 => return Err("division by zero".into()),
                BinOp::Div => x / y,
                BinOp::Mod => x % y,
                _ => f64::NAN,
            };
            if r.is_finite() {
                Ok(Value::Float(r))
            } else {
                Err("number overflow: the result is beyond the largest number (about 1.8e308)".into())
            }
        }
        _ => Err(format!("arithmetic needs numbers, got {} and {}", a.type_name(), b.type_name())),
    }
}

/// Equality (any two values; an integer equals the float of the same
/// number), order (numbers only) and logic (bools only).
fn compare(op: BinOp, a: &Value, b: &Value) -> Result<Value, String> {
    let equal = || match (as_number(a), as_number(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    };
    let order = |want: fn(std::cmp::Ordering) -> bool| match (as_number(a), as_number(b)) {
        (Some(x), Some(y)) => Ok(Value::Bool(x.partial_cmp(&y).is_some_and(want))),
        _ => Err(format!("`<`, `<=`, `>` and `>=` compare numbers, got {} and {}", a.type_name(), b.type_name())),
    };
    let logic = |f: fn(bool, bool) -> bool| match (a, b) {
        (Value::Bool(x), Value::Bool(y)) => Ok(Value::Bool(f(*x, *y))),
        _ => Err(format!("`&&` and `||` take bools, got {} and {}", a.type_name(), b.type_name())),
    };
    match op {
        BinOp::Eq => Ok(Value::Bool(equal())),
        BinOp::Ne => Ok(Value::Bool(!equal())),
        BinOp::Lt => order(|o| o.is_lt()),
        BinOp::Le => order(|o| o.is_le()),
        BinOp::Gt => order(|o| o.is_gt()),
        BinOp::Ge => order(|o| o.is_ge()),
        BinOp::And => logic(|x, y| x && y),
        BinOp::Or => logic(|x, y| x || y),
        _ => Err("not a comparison".into()),
    }
}

/// A built-in function.
pub struct Function {
    pub name: &'static str,
    /// Argument list as shown in docs and arity errors, e.g. `join(sep, list)`.
    pub signature: &'static str,
    pub min_args: usize,
    /// `None`: any number of arguments from `min_args` on.
    pub max_args: Option<usize>,
    run: fn(&[Value]) -> Result<Value, String>,
}

/// Every built-in function (documented in docs/stack-language.md).
pub static FUNCTIONS: &[Function] = &[
    Function { name: "min", signature: "min(number, ...)", min_args: 1, max_args: None, run: |a| extreme(a, false) },
    Function { name: "max", signature: "max(number, ...)", min_args: 1, max_args: None, run: |a| extreme(a, true) },
    Function {
        name: "floor",
        signature: "floor(number)",
        min_args: 1,
        max_args: Some(1),
        run: |a| round(&a[0], f64::floor),
    },
    Function {
        name: "ceil",
        signature: "ceil(number)",
        min_args: 1,
        max_args: Some(1),
        run: |a| round(&a[0], f64::ceil),
    },
    Function {
        name: "lower",
        signature: "lower(string)",
        min_args: 1,
        max_args: Some(1),
        run: |a| Ok(Value::Str(string(&a[0])?.to_lowercase())),
    },
    Function {
        name: "upper",
        signature: "upper(string)",
        min_args: 1,
        max_args: Some(1),
        run: |a| Ok(Value::Str(string(&a[0])?.to_uppercase())),
    },
    Function { name: "join", signature: "join(separator, list)", min_args: 2, max_args: Some(2), run: join },
    Function { name: "split", signature: "split(separator, string)", min_args: 2, max_args: Some(2), run: split },
    Function { name: "element", signature: "element(list, index)", min_args: 2, max_args: Some(2), run: element },
    Function {
        name: "length",
        signature: "length(list | table | string)",
        min_args: 1,
        max_args: Some(1),
        run: length,
    },
    Function { name: "keys", signature: "keys(table)", min_args: 1, max_args: Some(1), run: keys },
    Function {
        name: "lookup",
        signature: "lookup(table, key, default)",
        min_args: 3,
        max_args: Some(3),
        run: lookup_in,
    },
    Function { name: "concat", signature: "concat(list, ...)", min_args: 1, max_args: None, run: concat },
    Function { name: "contains", signature: "contains(list, value)", min_args: 2, max_args: Some(2), run: contains },
    Function { name: "coalesce", signature: "coalesce(value, ...)", min_args: 1, max_args: None, run: coalesce },
    Function { name: "flatten", signature: "flatten(list)", min_args: 1, max_args: Some(1), run: flatten },
    Function { name: "distinct", signature: "distinct(list)", min_args: 1, max_args: Some(1), run: distinct },
    Function { name: "merge", signature: "merge(table, ...)", min_args: 1, max_args: None, run: merge },
    Function {
        name: "replace",
        signature: "replace(string, search, replacement)",
        min_args: 3,
        max_args: Some(3),
        run: |a| Ok(Value::Str(string(&a[0])?.replace(string(&a[1])?, string(&a[2])?))),
    },
    Function { name: "tostring", signature: "tostring(value)", min_args: 1, max_args: Some(1), run: tostring },
    Function { name: "format", signature: "format(spec, value, ...)", min_args: 1, max_args: None, run: format },
    Function {
        name: "substr",
        signature: "substr(string, offset, length)",
        min_args: 3,
        max_args: Some(3),
        run: substr,
    },
    Function { name: "range", signature: "range([start,] limit[, step])", min_args: 1, max_args: Some(3), run: range },
    Function { name: "zipmap", signature: "zipmap(keys, values)", min_args: 2, max_args: Some(2), run: zipmap },
    Function {
        name: "cidrsubnet",
        signature: "cidrsubnet(prefix, newbits, netnum)",
        min_args: 3,
        max_args: Some(3),
        run: cidrsubnet,
    },
    Function {
        name: "cidrhost",
        signature: "cidrhost(prefix, hostnum)",
        min_args: 2,
        max_args: Some(2),
        run: cidrhost,
    },
    Function { name: "tonumber", signature: "tonumber(value)", min_args: 1, max_args: Some(1), run: tonumber },
    Function {
        name: "jsonencode",
        signature: "jsonencode(value)",
        min_args: 1,
        max_args: Some(1),
        run: |a| Ok(Value::Str(a[0].to_json().to_string())),
    },
    Function {
        name: "instance_memory_mib",
        signature: "instance_memory_mib(instance_class)",
        min_args: 1,
        max_args: Some(1),
        run: |a| Ok(Value::Int(memory_mib(&a[0])?)),
    },
    Function {
        name: "pg_shared_buffers",
        signature: "pg_shared_buffers(instance_class)",
        min_args: 1,
        max_args: Some(1),
        run: |a| Ok(Value::Int(memory_mib(&a[0])? * PAGES_PER_MIB / 4)),
    },
    Function {
        name: "pg_effective_cache_size",
        signature: "pg_effective_cache_size(instance_class)",
        min_args: 1,
        max_args: Some(1),
        run: |a| Ok(Value::Int(memory_mib(&a[0])? * PAGES_PER_MIB * 3 / 4)),
    },
    Function {
        name: "pg_work_mem_kb",
        signature: "pg_work_mem_kb(instance_class, max_connections)",
        min_args: 2,
        max_args: Some(2),
        run: work_mem_kb,
    },
    Function {
        name: "pg_maintenance_work_mem_kb",
        signature: "pg_maintenance_work_mem_kb(instance_class)",
        min_args: 1,
        max_args: Some(1),
        run: |a| Ok(Value::Int((memory_mib(&a[0])? * KB_PER_MIB / 16).min(MAX_MAINTENANCE_WORK_MEM_KB))),
    },
];

/// Looks a function up by name.
pub fn lookup(name: &str) -> Option<&'static Function> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

/// Names of the built-in functions, for did-you-mean hints.
pub fn names() -> impl Iterator<Item = &'static str> {
    FUNCTIONS.iter().map(|f| f.name)
}

/// Checks a call's argument count; the message names the expected signature.
pub fn check_arity(f: &Function, n: usize) -> Result<(), String> {
    if n < f.min_args || f.max_args.is_some_and(|m| n > m) {
        return Err(format!("`{}` takes {}; got {n} argument{}", f.name, f.signature, if n == 1 { "" } else { "s" }));
    }
    Ok(())
}

/// Calls a built-in function by name. Arguments hold no unknowns.
pub fn call(name: &str, args: &[Value]) -> Result<Value, String> {
    let f = lookup(name).ok_or_else(|| format!("unknown function `{name}`"))?;
    check_arity(f, args.len())?;
    (f.run)(args)
}

/// An integer or float as a float.
fn as_number(v: &Value) -> Option<f64> {
    match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

fn number(v: &Value) -> Result<f64, String> {
    as_number(v).ok_or_else(|| format!("expected a number, got {}", v.type_name()))
}

fn string(v: &Value) -> Result<&str, String> {
    v.as_str().ok_or_else(|| format!("expected a string, got {}", v.type_name()))
}

/// `min` / `max`: integers stay integers; any float makes the result a float.
fn extreme(args: &[Value], want_max: bool) -> Result<Value, String> {
    let better = |x: f64, y: f64| if want_max { x > y } else { x < y };
    let mut best = &args[0];
    number(best)?;
    for a in &args[1..] {
        if better(number(a)?, number(best)?) {
            best = a;
        }
    }
    Ok(if args.iter().all(|a| matches!(a, Value::Int(_))) { best.clone() } else { Value::Float(number(best)?) })
}

fn round(v: &Value, how: fn(f64) -> f64) -> Result<Value, String> {
    match v {
        Value::Int(i) => Ok(Value::Int(*i)),
        other => {
            let r = how(number(other)?);
            if r.is_finite() && r.abs() < 9.0e18 { Ok(Value::Int(r as i64)) } else { Err("number out of range".into()) }
        }
    }
}

fn join(args: &[Value]) -> Result<Value, String> {
    let sep = string(&args[0])?;
    let list = args[1].as_list().ok_or_else(|| format!("expected a list, got {}", args[1].type_name()))?;
    let parts = list
        .iter()
        .map(|v| match v {
            Value::Str(s) => Ok(s.clone()),
            Value::Int(_) | Value::Float(_) | Value::Bool(_) => Ok(v.to_string()),
            other => Err(format!("cannot join a {}", other.type_name())),
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Value::Str(parts.join(sep)))
}

/// The parts of a string between separators (`split(":", "a:b")` is `["a", "b"]`).
fn split(args: &[Value]) -> Result<Value, String> {
    let sep = string(&args[0])?;
    if sep.is_empty() {
        return Err("the separator is empty".into());
    }
    Ok(Value::List(string(&args[1])?.split(sep).map(Value::str).collect()))
}

/// The item at `index` of a list, counting on from the start past its end
/// (`element(["a", "b"], 2)` is `"a"`), as Terraform's `element`.
fn element(args: &[Value]) -> Result<Value, String> {
    let list = args[0].as_list().ok_or_else(|| format!("expected a list, got {}", args[0].type_name()))?;
    let index = match &args[1] {
        Value::Int(i) => *i,
        other => return Err(format!("expected a whole number as the index, got {}", other.type_name())),
    };
    if list.is_empty() {
        return Err("the list is empty".into());
    }
    let index = usize::try_from(index).map_err(|_| format!("the index {index} is negative"))?;
    Ok(list[index % list.len()].clone())
}

fn length(args: &[Value]) -> Result<Value, String> {
    let n = match &args[0] {
        Value::List(l) => l.len(),
        Value::Map(m) => m.len(),
        Value::Str(s) => s.chars().count(),
        other => return Err(format!("expected a list, table or string, got {}", other.type_name())),
    };
    Ok(Value::Int(i64::try_from(n).unwrap_or(i64::MAX)))
}

fn keys(args: &[Value]) -> Result<Value, String> {
    let m = args[0].as_map().ok_or_else(|| format!("expected a table, got {}", args[0].type_name()))?;
    Ok(Value::List(m.keys().map(|k| Value::Str(k.clone())).collect()))
}

/// The value at `key` in a table, else `default`.
fn lookup_in(a: &[Value]) -> Result<Value, String> {
    let m = a[0].as_map().ok_or_else(|| format!("expected a table, got {}", a[0].type_name()))?;
    Ok(m.get(string(&a[1])?).cloned().unwrap_or_else(|| a[2].clone()))
}

fn concat(args: &[Value]) -> Result<Value, String> {
    let mut out = Vec::new();
    for a in args {
        out.extend_from_slice(a.as_list().ok_or_else(|| format!("expected lists, got {}", a.type_name()))?);
    }
    Ok(Value::List(out))
}

fn list_arg(v: &Value) -> Result<&[Value], String> {
    v.as_list().ok_or_else(|| format!("expected a list, got {}", v.type_name()))
}

/// Whether the list holds the value (numbers compared by value: `1` is `1.0`).
fn contains(a: &[Value]) -> Result<Value, String> {
    let found = list_arg(&a[0])?.iter().any(|v| matches!(binary(BinOp::Eq, v, &a[1]), Ok(Value::Bool(true))));
    Ok(Value::Bool(found))
}

/// The first argument that is neither null nor an empty string.
fn coalesce(a: &[Value]) -> Result<Value, String> {
    a.iter()
        .find(|v| !matches!(v, Value::Null) && v.as_str() != Some(""))
        .cloned()
        .ok_or_else(|| "every argument is null or an empty string".into())
}

/// The items of a list of lists (and of lists inside them), in one list.
fn flatten(a: &[Value]) -> Result<Value, String> {
    fn into(v: &Value, out: &mut Vec<Value>) {
        match v {
            Value::List(items) => items.iter().for_each(|i| into(i, out)),
            other => out.push(other.clone()),
        }
    }
    let mut out = Vec::new();
    for item in list_arg(&a[0])? {
        into(item, &mut out);
    }
    Ok(Value::List(out))
}

/// The list without repeated items, the first of each kept in place.
fn distinct(a: &[Value]) -> Result<Value, String> {
    let mut out: Vec<Value> = Vec::new();
    for v in list_arg(&a[0])? {
        if !out.contains(v) {
            out.push(v.clone());
        }
    }
    Ok(Value::List(out))
}

/// The tables' entries in one table; a later table's key wins.
fn merge(a: &[Value]) -> Result<Value, String> {
    let mut out = std::collections::BTreeMap::new();
    for t in a {
        let m = t.as_map().ok_or_else(|| format!("expected tables, got {}", t.type_name()))?;
        out.extend(m.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    Ok(Value::Map(out))
}

/// A string, number or bool as a string.
fn tostring(a: &[Value]) -> Result<Value, String> {
    match &a[0] {
        Value::Str(_) => Ok(a[0].clone()),
        Value::Int(_) | Value::Float(_) | Value::Bool(_) => Ok(Value::Str(a[0].to_string())),
        other => Err(format!("cannot make a string of a {}", other.type_name())),
    }
}

/// A number, or a string that holds one, as a number.
fn tonumber(a: &[Value]) -> Result<Value, String> {
    match &a[0] {
        Value::Int(_) | Value::Float(_) => Ok(a[0].clone()),
        Value::Str(s) => match (s.trim().parse::<i64>(), s.trim().parse::<f64>()) {
            (Ok(i), _) => Ok(Value::Int(i)),
            (_, Ok(f)) if f.is_finite() => Ok(Value::Float(f)),
            _ => Err(format!("{s:?} is not a number")),
        },
        other => Err(format!("cannot make a number of a {}", other.type_name())),
    }
}

fn int_arg(v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(*i),
        other => Err(format!("expected a whole number, got {}", other.type_name())),
    }
}

/// `spec` with each `%s`, `%d` or `%v` replaced by the next value (`%%` is `%`).
fn format(a: &[Value]) -> Result<Value, String> {
    let spec = string(&a[0])?;
    let mut values = a[1..].iter();
    let mut out = String::new();
    let mut chars = spec.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some(verb @ ('s' | 'd' | 'v')) => {
                let v = values.next().ok_or_else(|| format!("`%{verb}` has no value left to format"))?;
                match (verb, v) {
                    ('d', Value::Int(i)) => out.push_str(&i.to_string()),
                    ('d', other) => return Err(format!("`%d` needs a whole number, got {}", other.type_name())),
                    (_, Value::Str(s)) => out.push_str(s),
                    (_, Value::Int(_) | Value::Float(_) | Value::Bool(_)) => out.push_str(&v.to_string()),
                    ('v', other) => out.push_str(&other.to_json().to_string()),
                    (_, other) => {
                        return Err(format!("`%s` needs a string, number or bool, got {}", other.type_name()));
                    }
                }
            }
            Some(other) => return Err(format!("`%{other}` is not a verb format knows (`%s`, `%d`, `%v`, `%%`)")),
            None => return Err("the spec ends with a lone `%`".into()),
        }
    }
    if values.next().is_some() {
        return Err("more values than the spec has verbs".into());
    }
    Ok(Value::Str(out))
}

/// `length` characters of a string from `offset` (from 0); length -1 takes the rest.
fn substr(a: &[Value]) -> Result<Value, String> {
    let s = string(&a[0])?;
    let (offset, length) = (int_arg(&a[1])?, int_arg(&a[2])?);
    let count = s.chars().count();
    let offset = usize::try_from(offset).map_err(|_| format!("the offset {offset} is negative"))?;
    if offset > count {
        return Err(format!("the offset {offset} is past the end of a string of {count} characters"));
    }
    let take = match length {
        -1 => count - offset,
        n => usize::try_from(n).map_err(|_| format!("the length {n} is negative (use -1 for the rest)"))?,
    };
    Ok(Value::Str(s.chars().skip(offset).take(take).collect()))
}

/// Most items `range` makes.
const MAX_RANGE: i64 = 1024;

/// Whole numbers from `start` (0) up to, not including, `limit`, by `step` (1, or -1 downwards).
fn range(a: &[Value]) -> Result<Value, String> {
    let ints = a.iter().map(int_arg).collect::<Result<Vec<_>, _>>()?;
    let (start, limit, step) = match ints[..] {
        [limit] => (0, limit, 1),
        [start, limit] => (start, limit, if limit < start { -1 } else { 1 }),
        [start, limit, step] => (start, limit, step),
        _ => return Err("expected one to three whole numbers".into()),
    };
    if step == 0 {
        return Err("the step is 0".into());
    }
    let count =
        (i128::from(limit) - i128::from(start) + i128::from(step) - i128::from(step.signum())) / i128::from(step);
    if count > i128::from(MAX_RANGE) {
        return Err(format!("more than {MAX_RANGE} items"));
    }
    let items = (0..count.max(0) as i64).map(|i| Value::Int(start + i * step)).collect();
    Ok(Value::List(items))
}

/// A table of `keys[i] = values[i]`.
fn zipmap(a: &[Value]) -> Result<Value, String> {
    let (keys, values) = (list_arg(&a[0])?, list_arg(&a[1])?);
    if keys.len() != values.len() {
        return Err(format!("{} keys and {} values", keys.len(), values.len()));
    }
    let keys = keys.iter().map(|k| string(k).map(str::to_owned));
    Ok(Value::Map(keys.zip(values.iter().cloned()).map(|(k, v)| Ok((k?, v))).collect::<Result<_, String>>()?))
}

/// An IPv4 prefix `a.b.c.d/n` as (its network address, n): the host bits
/// of the address written are dropped.
fn ipv4_prefix(v: &Value) -> Result<(u32, u32), String> {
    let text = string(v)?;
    let bad = || format!("{text:?} is not an IPv4 prefix such as 10.0.0.0/16");
    let (addr, len) = text.split_once('/').ok_or_else(bad)?;
    let addr: std::net::Ipv4Addr = addr.parse().map_err(|_| bad())?;
    let len: u32 = len.parse().ok().filter(|l| *l <= 32).ok_or_else(bad)?;
    let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
    Ok((u32::from(addr) & mask, len))
}

/// The `netnum`-th subnet of `prefix` with `newbits` more bits of prefix:
/// `cidrsubnet("10.0.0.0/16", 8, 2)` is `"10.0.2.0/24"`.
fn cidrsubnet(a: &[Value]) -> Result<Value, String> {
    let (network, len) = ipv4_prefix(&a[0])?;
    let (newbits, netnum) = (int_arg(&a[1])?, int_arg(&a[2])?);
    let new_len = i64::from(len).saturating_add(newbits);
    if !(1..=32).contains(&new_len) || newbits < 1 {
        return Err(format!("a /{len} prefix with {newbits} more bits is not a prefix of at most 32 bits"));
    }
    if netnum < 0 || netnum >= 1i64 << newbits {
        return Err(format!("netnum {netnum} does not fit in {newbits} bits"));
    }
    let shift = 32 - new_len as u32;
    let subnet = network | ((netnum as u32).checked_shl(shift).unwrap_or(0));
    Ok(Value::Str(format!("{}/{new_len}", std::net::Ipv4Addr::from(subnet))))
}

/// The `hostnum`-th address of `prefix` (negative: counted from its end):
/// `cidrhost("10.0.1.0/24", 5)` is `"10.0.1.5"`.
fn cidrhost(a: &[Value]) -> Result<Value, String> {
    let (network, len) = ipv4_prefix(&a[0])?;
    let hostnum = int_arg(&a[1])?;
    let size = 1i64 << (32 - len);
    let index = if hostnum < 0 { size.saturating_add(hostnum) } else { hostnum };
    if !(0..size).contains(&index) {
        return Err(format!("host number {hostnum} is not in a /{len} prefix of {size} addresses"));
    }
    Ok(Value::Str(std::net::Ipv4Addr::from(network + index as u32).to_string()))
}

/// Sizes an instance family comes in, smallest first.
const BURSTABLE: &[&str] = &["micro", "small", "medium", "large", "xlarge", "2xlarge"];
const GRAVITON: &[&str] = &["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge"];
const INTEL_5: &[&str] = &["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge"];
const INTEL_6I: &[&str] =
    &["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "32xlarge"];

/// Current RDS / Aurora PostgreSQL instance families: (family, GiB of RAM of
/// its `.large` size, sizes offered). Within a family RAM doubles with each
/// size step (`xlarge` = 2 × `large`, `Nxlarge` = N × `xlarge`; `medium`,
/// `small`, `micro` halve it), which is how AWS sizes these classes.
static CLASS_FAMILIES: &[(&str, i64, &[&str])] = &[
    ("db.t3", 8, BURSTABLE),
    ("db.t4g", 8, BURSTABLE),
    ("db.m5", 8, INTEL_5),
    ("db.m6g", 8, GRAVITON),
    ("db.m6i", 8, INTEL_6I),
    ("db.m7g", 8, GRAVITON),
    ("db.r5", 16, INTEL_5),
    ("db.r6g", 16, GRAVITON),
    ("db.r6i", 16, INTEL_6I),
    ("db.r7g", 16, GRAVITON),
    ("db.x2g", 32, GRAVITON),
];

/// 8 kB pages (the unit of `shared_buffers` and `effective_cache_size`) per MiB.
const PAGES_PER_MIB: i64 = 128;
const KB_PER_MIB: i64 = 1024;
/// PostgreSQL's smallest `work_mem`.
const MIN_WORK_MEM_KB: i64 = 64;
/// 2 GiB: more `maintenance_work_mem` than this does not speed up vacuum.
const MAX_MAINTENANCE_WORK_MEM_KB: i64 = 2 * 1024 * 1024;

/// A size's RAM in eighths of the family's `.large` size.
fn size_eighths(size: &str) -> Option<i64> {
    match size {
        "micro" => Some(1),
        "small" => Some(2),
        "medium" => Some(4),
        "large" => Some(8),
        "xlarge" => Some(16),
        _ => size.strip_suffix("xlarge")?.parse::<i64>().ok().map(|n| 16 * n),
    }
}

/// Every known instance class with its RAM in MiB, in table order.
fn known_classes() -> impl Iterator<Item = (String, i64)> {
    CLASS_FAMILIES.iter().flat_map(|(family, large_gib, sizes)| {
        sizes.iter().filter_map(move |size| Some((format!("{family}.{size}"), large_gib * 128 * size_eighths(size)?)))
    })
}

/// The vCPUs of a known instance class: two at `large` and below, then
/// twice the size step (`xlarge` 4, `Nxlarge` 4N), as AWS sizes them.
pub fn instance_vcpus(class: &str) -> Option<i64> {
    let class = class.to_ascii_lowercase();
    let (family, size) = class.rsplit_once('.')?;
    CLASS_FAMILIES.iter().find(|(f, _, sizes)| *f == family && sizes.contains(&size))?;
    Some((size_eighths(size)? / 4).max(2))
}

/// The RAM of an instance class in MiB; an unknown class is an error naming
/// the three nearest known ones.
fn memory_mib(class: &Value) -> Result<i64, String> {
    let wanted = string(class)?.to_ascii_lowercase();
    if let Some((_, mib)) = known_classes().find(|(c, _)| *c == wanted) {
        return Ok(mib);
    }
    let mut near: Vec<(usize, String)> =
        known_classes().map(|(c, _)| (strsim::damerau_levenshtein(&wanted, &c), c)).collect();
    near.sort_by_key(|(d, _)| *d);
    let near: Vec<String> = near.into_iter().take(3).map(|(_, c)| c).collect();
    let families: Vec<&str> = CLASS_FAMILIES.iter().map(|(f, _, _)| *f).collect();
    Err(format!(
        "unknown instance class {wanted:?}; nearest known: {} (known families: {})",
        near.join(", "),
        families.join(", ")
    ))
}

/// `work_mem` in kB: half the RAM shared by all connections (the other half
/// is `shared_buffers` plus the OS and maintenance reserve), at least 64 kB.
fn work_mem_kb(args: &[Value]) -> Result<Value, String> {
    let mib = memory_mib(&args[0])?;
    let connections = match args[1].as_i64() {
        Some(n) if n > 0 => n,
        _ => return Err(format!("max_connections must be a positive integer, got {}", args[1])),
    };
    Ok(Value::Int((mib * KB_PER_MIB / 2 / connections).max(MIN_WORK_MEM_KB)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[Value]) -> Value {
        Value::List(items.to_vec())
    }

    #[test]
    fn arithmetic_keeps_integers_and_reports_errors() {
        assert_eq!(binary(BinOp::Div, &Value::Int(7), &Value::Int(2)), Ok(Value::Int(3)));
        assert_eq!(binary(BinOp::Mul, &Value::Int(3), &Value::Float(0.5)), Ok(Value::Float(1.5)));
        assert_eq!(binary(BinOp::Mod, &Value::Int(7), &Value::Int(0)), Err("division by zero".into()));
        assert_eq!(binary(BinOp::Add, &Value::Int(i64::MAX), &Value::Int(1)), Err("integer overflow".into()));
        assert!(binary(BinOp::Add, &Value::str("a"), &Value::Int(1)).is_err());
    }

    /// Every operator on extreme operands gives a finite number or an error:
    /// never `inf` or `NaN`, never a panic.
    #[test]
    fn arithmetic_never_gives_inf_or_nan() {
        let extremes = [
            Value::Int(i64::MAX),
            Value::Int(i64::MIN),
            Value::Int(-1),
            Value::Int(0),
            Value::Float(f64::MAX),
            Value::Float(-f64::MAX),
            Value::Float(f64::MIN_POSITIVE),
            Value::Float(5e-324),
            Value::Float(-0.0),
            Value::Float(1e308),
        ];
        for op in [BinOp::Add, BinOp::Sub, BinOp::Mul, BinOp::Div, BinOp::Mod] {
            for a in &extremes {
                for b in &extremes {
                    match binary(op, a, b) {
                        Ok(Value::Float(f)) => assert!(f.is_finite(), "{a:?} {op:?} {b:?} = {f}"),
                        Ok(Value::Int(_)) => {}
                        Ok(other) => panic!("{a:?} {op:?} {b:?} = {other:?}"),
                        Err(m) => assert!(
                            ["integer overflow", "division by zero", "number overflow"]
                                .iter()
                                .any(|s| m.starts_with(s)),
                            "{a:?} {op:?} {b:?}: {m}"
                        ),
                    }
                }
            }
        }
        let overflow = binary(BinOp::Mul, &Value::Float(1e308), &Value::Int(10)).unwrap_err();
        assert!(overflow.starts_with("number overflow"), "{overflow}");
        let tiny = binary(BinOp::Div, &Value::Float(1.0), &Value::Float(5e-324)).unwrap_err();
        assert!(tiny.starts_with("number overflow"), "{tiny}");
        assert_eq!(binary(BinOp::Div, &Value::Int(i64::MIN), &Value::Int(-1)), Err("integer overflow".into()));
        assert_eq!(binary(BinOp::Mod, &Value::Int(i64::MIN), &Value::Int(-1)), Err("integer overflow".into()));
        assert_eq!(binary(BinOp::Div, &Value::Float(1.0), &Value::Float(-0.0)), Err("division by zero".into()));
    }

    #[test]
    fn min_max_floor_ceil() {
        assert_eq!(call("max", &[Value::Int(3), Value::Int(9), Value::Int(4)]), Ok(Value::Int(9)));
        assert_eq!(call("min", &[Value::Int(3), Value::Float(2.5)]), Ok(Value::Float(2.5)));
        assert_eq!(call("max", &[Value::Int(3), Value::Float(2.5)]), Ok(Value::Float(3.0)));
        assert_eq!(call("floor", &[Value::Float(2.7)]), Ok(Value::Int(2)));
        assert_eq!(call("ceil", &[Value::Float(2.1)]), Ok(Value::Int(3)));
        assert_eq!(call("ceil", &[Value::Float(1e300)]), Err("number out of range".into()));
        assert!(call("min", &[Value::str("a")]).is_err());
    }

    #[test]
    fn strings_and_collections() {
        assert_eq!(call("lower", &[Value::str("AbC")]), Ok(Value::str("abc")));
        assert_eq!(call("upper", &[Value::str("AbC")]), Ok(Value::str("ABC")));
        let l = list(&[Value::str("a"), Value::Int(2)]);
        assert_eq!(call("join", &[Value::str(","), l.clone()]), Ok(Value::str("a,2")));
        assert_eq!(call("length", std::slice::from_ref(&l)), Ok(Value::Int(2)));
        assert_eq!(call("length", &[Value::str("héé")]), Ok(Value::Int(3)));
        let m = Value::Map([("b".to_owned(), Value::Int(1)), ("a".to_owned(), Value::Int(2))].into());
        assert_eq!(call("keys", &[m]), Ok(list(&[Value::str("a"), Value::str("b")])));
        assert_eq!(call("concat", &[l.clone(), list(&[Value::Null])]).map(|v| v.as_list().unwrap().len()), Ok(3));
        let t = Value::Map([("a".to_owned(), Value::Int(1))].into());
        assert_eq!(call("lookup", &[t.clone(), Value::str("a"), Value::Int(9)]), Ok(Value::Int(1)));
        assert_eq!(call("lookup", &[t.clone(), Value::str("b"), Value::Int(9)]), Ok(Value::Int(9)));
        assert_eq!(
            call("lookup", &[Value::Int(1), Value::str("a"), Value::Null]),
            Err("expected a table, got integer".into())
        );
        assert_eq!(call("lookup", &[t, Value::Int(1), Value::Null]), Err("expected a string, got integer".into()));
        let parts = call("split", &[Value::str(":"), Value::str("arn:aws:rds:us-east-1:1:cluster:c")]).unwrap();
        assert_eq!(call("element", &[parts.clone(), Value::Int(3)]), Ok(Value::str("us-east-1")));
        assert_eq!(call("element", &[parts, Value::Int(7)]), Ok(Value::str("arn")), "past the end wraps around");
        assert_eq!(call("split", &[Value::str(""), Value::str("ab")]), Err("the separator is empty".into()));
        let two = Value::List(vec![Value::str("a"), Value::str("b")]);
        assert_eq!(call("element", &[two.clone(), Value::Int(-1)]), Err("the index -1 is negative".into()));
        assert_eq!(call("element", &[Value::List(vec![]), Value::Int(0)]), Err("the list is empty".into()));
        assert_eq!(
            call("element", &[two, Value::str("0")]),
            Err("expected a whole number as the index, got string".into())
        );
        let list = |items: &[Value]| Value::List(items.to_vec());
        let (a, b) = (Value::str("a"), Value::str("b"));
        assert_eq!(call("contains", &[list(&[a.clone(), Value::Int(1)]), Value::Float(1.0)]), Ok(Value::Bool(true)));
        assert_eq!(call("contains", &[list(std::slice::from_ref(&a)), b.clone()]), Ok(Value::Bool(false)));
        assert_eq!(call("contains", &[a.clone(), b.clone()]), Err("expected a list, got string".into()));
        assert_eq!(call("coalesce", &[Value::Null, Value::str(""), b.clone()]), Ok(b.clone()));
        assert_eq!(call("coalesce", &[Value::Null]), Err("every argument is null or an empty string".into()));
        let nested = list(&[a.clone(), list(&[b.clone(), list(std::slice::from_ref(&a))])]);
        assert_eq!(call("flatten", &[nested]), Ok(list(&[a.clone(), b.clone(), a.clone()])));
        assert_eq!(call("distinct", &[list(&[b.clone(), a.clone(), b.clone()])]), Ok(list(&[b.clone(), a.clone()])));
        let t = |k: &str, v: &Value| Value::Map([(k.to_owned(), v.clone())].into());
        let merged = Value::Map([("k".to_owned(), b.clone()), ("x".to_owned(), a.clone())].into());
        assert_eq!(call("merge", &[t("k", &a), t("x", &a), t("k", &b)]), Ok(merged));
        assert_eq!(call("merge", &[t("k", &a), a.clone()]), Err("expected tables, got string".into()));
        assert_eq!(call("replace", &[Value::str("a-b-c"), Value::str("-"), Value::str("_")]), Ok(Value::str("a_b_c")));
        assert_eq!(call("tostring", &[Value::Int(5)]), Ok(Value::str("5")));
        assert_eq!(call("tostring", &[list(&[])]), Err("cannot make a string of a list".into()));
        assert_eq!(call("tonumber", &[Value::str(" 42 ")]), Ok(Value::Int(42)));
        assert_eq!(call("tonumber", &[Value::str("2.5")]), Ok(Value::Float(2.5)));
        assert_eq!(call("tonumber", &[Value::str("x")]), Err("\"x\" is not a number".into()));
        let doc = Value::Map([("Version".to_owned(), Value::str("2012-10-17"))].into());
        assert_eq!(call("jsonencode", &[doc]), Ok(Value::str(r#"{"Version":"2012-10-17"}"#)));
        assert!(
            call("replace", &[a.clone(), b.clone()])
                .unwrap_err()
                .contains("takes replace(string, search, replacement)")
        );
        let s = |x: &str| Value::str(x);
        let n = Value::Int;
        assert_eq!(call("format", &[s("%s-%d-%v%%"), s("db"), n(3), Value::Bool(true)]), Ok(s("db-3-true%")));
        assert_eq!(call("format", &[s("%d"), s("x")]), Err("`%d` needs a whole number, got string".into()));
        assert_eq!(call("format", &[s("%s")]), Err("`%s` has no value left to format".into()));
        assert_eq!(call("format", &[s("x"), n(1)]), Err("more values than the spec has verbs".into()));
        assert_eq!(call("format", &[s("%q")]), Err("`%q` is not a verb format knows (`%s`, `%d`, `%v`, `%%`)".into()));
        assert_eq!(call("substr", &[s("greenlang"), n(5), n(-1)]), Ok(s("lang")));
        assert_eq!(call("substr", &[s("héllo"), n(1), n(2)]), Ok(s("él")));
        assert_eq!(
            call("substr", &[s("ab"), n(3), n(1)]),
            Err("the offset 3 is past the end of a string of 2 characters".into())
        );
        let ints = |v: &[i64]| Value::List(v.iter().copied().map(Value::Int).collect());
        assert_eq!(call("range", &[n(3)]), Ok(ints(&[0, 1, 2])));
        assert_eq!(call("range", &[n(1), n(7), n(2)]), Ok(ints(&[1, 3, 5])));
        assert_eq!(call("range", &[n(3), n(0)]), Ok(ints(&[3, 2, 1])));
        assert_eq!(call("range", &[n(0), n(5), n(0)]), Err("the step is 0".into()));
        assert_eq!(call("range", &[n(i64::MAX)]), Err("more than 1024 items".into()));
        let zipped = Value::Map([("a".to_owned(), n(1)), ("b".to_owned(), n(2))].into());
        assert_eq!(call("zipmap", &[Value::List(vec![s("a"), s("b")]), ints(&[1, 2])]), Ok(zipped));
        assert_eq!(call("zipmap", &[Value::List(vec![s("a")]), ints(&[])]), Err("1 keys and 0 values".into()));
        assert_eq!(call("cidrsubnet", &[s("10.0.0.0/16"), n(8), n(2)]), Ok(s("10.0.2.0/24")));
        assert_eq!(call("cidrsubnet", &[s("10.0.0.0/16"), n(4), n(15)]), Ok(s("10.0.240.0/20")));
        assert_eq!(
            call("cidrsubnet", &[s("10.0.0.0/16"), n(8), n(256)]),
            Err("netnum 256 does not fit in 8 bits".into())
        );
        assert!(call("cidrsubnet", &[s("10.0.0.0/30"), n(8), n(0)]).unwrap_err().contains("at most 32 bits"));
        assert_eq!(call("cidrhost", &[s("10.0.1.0/24"), n(5)]), Ok(s("10.0.1.5")));
        assert_eq!(call("cidrhost", &[s("10.0.1.0/24"), n(-2)]), Ok(s("10.0.1.254")));
        assert!(call("cidrhost", &[s("10.0.1.0/24"), n(256)]).unwrap_err().contains("not in a /24 prefix"));
        assert!(call("cidrhost", &[s("10.0.1.0"), n(1)]).unwrap_err().contains("is not an IPv4 prefix"));
        // Extreme numbers are errors, never a panic.
        for big in [i64::MAX, i64::MIN] {
            assert!(call("cidrsubnet", &[s("10.0.0.0/16"), n(big), n(0)]).is_err(), "{big}");
            assert!(call("cidrsubnet", &[s("10.0.0.0/16"), n(8), n(big)]).is_err(), "{big}");
            assert!(call("cidrhost", &[s("10.0.0.0/16"), n(big)]).is_err(), "{big}");
            assert!(call("substr", &[s("ab"), n(big), n(big)]).is_err(), "{big}");
        }
        assert_eq!(call("range", &[n(0), n(i64::MAX), n(1)]), Err("more than 1024 items".into()));
        assert_eq!(call("range", &[n(i64::MAX), n(i64::MIN), n(-1)]), Err("more than 1024 items".into()));
        assert_eq!(call("range", &[n(0), n(i64::MIN), n(1)]), Ok(ints(&[])), "counting up to below the start: none");
        assert_eq!(call("range", &[n(i64::MAX - 1), n(i64::MAX), n(i64::MAX)]), Ok(ints(&[i64::MAX - 1])));
    }

    fn class(c: &str) -> Value {
        Value::str(c)
    }

    #[test]
    fn instance_memory_of_known_classes() {
        for (c, gib) in [
            ("db.t3.micro", 1),
            ("db.t4g.medium", 4),
            ("db.t3.2xlarge", 32),
            ("db.m5.large", 8),
            ("db.m5.24xlarge", 384),
            ("db.m6i.32xlarge", 512),
            ("db.m7g.12xlarge", 192),
            ("db.r5.large", 16),
            ("db.r6g.xlarge", 32),
            ("db.r6i.32xlarge", 1024),
            ("db.r7g.16xlarge", 512),
            ("db.x2g.large", 32),
            ("DB.R6G.LARGE", 16),
        ] {
            assert_eq!(call("instance_memory_mib", &[class(c)]), Ok(Value::Int(gib * 1024)), "{c}");
        }
    }

    #[test]
    fn unknown_classes_name_the_nearest_known_ones() {
        let err = call("instance_memory_mib", &[class("db.r6g.3xlarge")]).unwrap_err();
        assert!(err.contains("\"db.r6g.3xlarge\"") && err.contains("db.r6g.2xlarge"), "{err}");
        let err = call("pg_shared_buffers", &[class("db.r8g.large")]).unwrap_err();
        assert!(err.contains("db.r6g.large") && err.contains("db.r7g.large"), "{err}");
        assert!(call("instance_memory_mib", &[class("db.t3.48xlarge")]).is_err(), "t3 stops at 2xlarge");
        assert!(call("instance_memory_mib", &[Value::Int(8)]).is_err());
    }

    /// The seeds' figures: shared_buffers 25% and effective_cache_size 75% of
    /// RAM in 8 kB pages; work_mem 16MB for 8 GiB and 4MB for 2 GiB at 250
    /// connections; maintenance_work_mem 512MB for 8 GiB and 2GB for 32 GiB.
    #[test]
    fn postgres_memory_settings() {
        let int = |name: &str, args: &[Value]| call(name, args).map(|v| v.as_i64().unwrap());
        assert_eq!(int("pg_shared_buffers", &[class("db.r6g.large")]), Ok(524_288), "4 GiB of 8 kB pages");
        assert_eq!(int("pg_shared_buffers", &[class("db.t3.medium")]), Ok(131_072));
        assert_eq!(int("pg_effective_cache_size", &[class("db.r6g.large")]), Ok(1_572_864), "12 GiB");
        assert_eq!(int("pg_effective_cache_size", &[class("db.m5.large")]), Ok(786_432), "6 GiB");
        assert_eq!(int("pg_work_mem_kb", &[class("db.m5.large"), Value::Int(250)]), Ok(16_777));
        assert_eq!(int("pg_work_mem_kb", &[class("db.t3.small"), Value::Int(250)]), Ok(4_194));
        assert_eq!(int("pg_work_mem_kb", &[class("db.t3.micro"), Value::Int(100_000)]), Ok(64), "PostgreSQL minimum");
        assert_eq!(int("pg_maintenance_work_mem_kb", &[class("db.m5.large")]), Ok(524_288));
        assert_eq!(int("pg_maintenance_work_mem_kb", &[class("db.r6g.xlarge")]), Ok(2_097_152));
        assert_eq!(int("pg_maintenance_work_mem_kb", &[class("db.r6g.4xlarge")]), Ok(2_097_152), "capped at 2 GiB");
        for bad in [Value::Int(0), Value::Int(-5), Value::str("250")] {
            let err = call("pg_work_mem_kb", &[class("db.m5.large"), bad]).unwrap_err();
            assert!(err.contains("max_connections"), "{err}");
        }
    }

    #[test]
    fn arity_and_unknown_names() {
        assert_eq!(call("lower", &[]), Err("`lower` takes lower(string); got 0 arguments".into()));
        assert_eq!(call("join", &[Value::str(",")]), Err("`join` takes join(separator, list); got 1 argument".into()));
        assert_eq!(call("nope", &[]), Err("unknown function `nope`".into()));
        assert!(names().any(|n| n == "concat"));
    }
}
