//! Built-in functions and arithmetic available inside `${...}`.

use crate::value::Value;

use super::model::BinOp;

/// Applies a binary operator. Unknown operands give `Unknown`.
pub fn binary(op: BinOp, a: &Value, b: &Value) -> Result<Value, String> {
    if a.is_unknown() || b.is_unknown() {
        return Ok(Value::Unknown);
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
        };
        return r.map(Value::Int).ok_or_else(|| "integer overflow".to_owned());
    }
    let num = |v: &Value| match v {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    };
    match (num(a), num(b)) {
        (Some(x), Some(y)) => {
            let r = match op {
                BinOp::Add => x + y,
                BinOp::Sub => x - y,
                BinOp::Mul => x * y,
                BinOp::Div | BinOp::Mod if y == 0.0 => return Err("division by zero".into()),
                BinOp::Div => x / y,
                BinOp::Mod => x % y,
            };
            Ok(Value::Float(r))
        }
        _ => Err(format!("arithmetic needs numbers, got {} and {}", a.type_name(), b.type_name())),
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
    Function {
        name: "length",
        signature: "length(list | table | string)",
        min_args: 1,
        max_args: Some(1),
        run: length,
    },
    Function { name: "keys", signature: "keys(table)", min_args: 1, max_args: Some(1), run: keys },
    Function { name: "concat", signature: "concat(list, ...)", min_args: 1, max_args: None, run: concat },
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

fn number(v: &Value) -> Result<f64, String> {
    match v {
        Value::Int(i) => Ok(*i as f64),
        Value::Float(f) => Ok(*f),
        other => Err(format!("expected a number, got {}", other.type_name())),
    }
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

fn concat(args: &[Value]) -> Result<Value, String> {
    let mut out = Vec::new();
    for a in args {
        out.extend_from_slice(a.as_list().ok_or_else(|| format!("expected lists, got {}", a.type_name()))?);
    }
    Ok(Value::List(out))
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
    }

    #[test]
    fn arity_and_unknown_names() {
        assert_eq!(call("lower", &[]), Err("`lower` takes lower(string); got 0 arguments".into()));
        assert_eq!(call("join", &[Value::str(",")]), Err("`join` takes join(separator, list); got 1 argument".into()));
        assert_eq!(call("nope", &[]), Err("unknown function `nope`".into()));
        assert!(names().any(|n| n == "concat"));
    }
}
