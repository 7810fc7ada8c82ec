//! Custom scalars.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use podium_domain::course::{Course, HYROX_STANDARD};

/// A course: the name of a built-in template (`HYROX_STANDARD`, as enum value or string), or a
/// custom list of timing point codes from `START` to `FINISH`, e.g. `["START", "KM5", "FINISH"]`.
pub struct CourseSpec(pub Course);

#[Scalar]
impl ScalarType for CourseSpec {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::Enum(name) if name.as_str() == HYROX_STANDARD => {
                Ok(CourseSpec(Course::hyrox_standard()))
            }
            Value::String(name) if name == HYROX_STANDARD => {
                Ok(CourseSpec(Course::hyrox_standard()))
            }
            Value::Enum(_) | Value::String(_) => Err(InputValueError::custom(format!(
                "course: unknown template {value}; use HYROX_STANDARD or a list of timing points"
            ))),
            Value::List(items) => {
                let points = items
                    .iter()
                    .map(|v| match v {
                        Value::String(s) => Ok(s.clone()),
                        other => Err(InputValueError::custom(format!(
                            "course: timing points are strings, got {other}"
                        ))),
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Course::custom(&points)
                    .map(CourseSpec)
                    .map_err(|e| InputValueError::custom(e.to_string()))
            }
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        if self.0.code() == HYROX_STANDARD {
            Value::String(HYROX_STANDARD.to_owned())
        } else {
            Value::List(
                self.0
                    .points()
                    .iter()
                    .map(|p| Value::String(p.to_string()))
                    .collect(),
            )
        }
    }
}
