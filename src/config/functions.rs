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

/// Calls a built-in function by name.
pub fn call(name: &str, _args: &[Value]) -> Result<Value, String> {
    match name {
        _ => Err(format!("unknown function `{name}`")),
    }
}

/// Names of the built-in functions, for did-you-mean hints.
pub const NAMES: &[&str] = &[];
