//! Speckle's scalars: `DateTime`, `JSONObject`, `BigInt`.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};

use crate::server::db::iso8601;

/// Speckle's `DateTime`: an ISO 8601 time in UTC (stored as Unix milliseconds).
#[derive(Clone, Copy, Debug)]
pub struct DateTime(pub i64);

#[Scalar]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        let Value::String(text) = &value else { return Err(InputValueError::expected_type(value)) };
        time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
            .map(|t| DateTime((t.unix_timestamp_nanos() / 1_000_000) as i64))
            .map_err(|_| InputValueError::custom("expected an ISO 8601 time, e.g. 2024-01-31T12:00:00Z"))
    }

    fn to_value(&self) -> Value {
        Value::String(iso8601(self.0))
    }
}

/// Speckle's `JSONObject`: any JSON value.
#[derive(Clone, Debug)]
pub struct JsonObject(pub serde_json::Value);

#[Scalar(name = "JSONObject")]
impl ScalarType for JsonObject {
    fn parse(value: Value) -> InputValueResult<Self> {
        value.into_json().map(JsonObject).map_err(|_| InputValueError::custom("expected JSON"))
    }

    fn to_value(&self) -> Value {
        Value::from_json(self.0.clone()).unwrap_or(Value::Null)
    }
}

/// Speckle's `BigInt`: a 64-bit whole number (as a JSON number or a string), e.g. a lifespan
/// in milliseconds, which overflows GraphQL's 32-bit `Int`.
pub struct BigInt(pub i64);

#[Scalar]
impl ScalarType for BigInt {
    fn parse(value: Value) -> InputValueResult<Self> {
        let parsed = match &value {
            Value::Number(number) => number.as_i64(),
            Value::String(text) => text.trim().parse().ok(),
            _ => None,
        };
        parsed.map(BigInt).ok_or_else(|| InputValueError::custom("expected a whole number of milliseconds"))
    }

    fn to_value(&self) -> Value {
        Value::Number(self.0.into())
    }
}
