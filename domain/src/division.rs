//! Divisions (category × gender) and age groups.

use crate::error::InvalidInput;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident, $field:literal { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "SCREAMING_SNAKE_CASE")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::error::InvalidInput;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    other => Err($crate::error::InvalidInput::new(
                        $field,
                        format!("`{other}` is not one of {}", [$($text),+].join(", ")),
                    )),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use string_enum;

string_enum!(
    /// The race category of an entry.
    Category, "category" {
        Open => "OPEN",
        Pro => "PRO",
        Doubles => "DOUBLES",
        Relay => "RELAY",
        Adaptive => "ADAPTIVE",
    }
);

string_enum!(
    /// The gender of a division (`MIXED` for mixed teams).
    Gender, "gender" {
        Men => "MEN",
        Women => "WOMEN",
        Mixed => "MIXED",
    }
);

/// A division: the population an entry is primarily ranked in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Division {
    pub category: Category,
    pub gender: Gender,
}

/// Age groups as used in HYROX results: `16-24`, `25-29`, … `65-69`, `70+`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AgeGroup {
    /// Lower bound of the group (16, 25, 30, …, 65, 70).
    lower: u8,
}

impl AgeGroup {
    pub const YOUNGEST_AGE: u32 = 16;

    /// Every age group, youngest first.
    pub fn all() -> Vec<AgeGroup> {
        std::iter::once(16)
            .chain((25..=70).step_by(5))
            .map(|lower| AgeGroup { lower })
            .collect()
    }

    /// The group of an athlete of `age` years, or `None` under 16.
    pub fn for_age(age: u32) -> Option<AgeGroup> {
        match age {
            0..=15 => None,
            16..=24 => Some(AgeGroup { lower: 16 }),
            70.. => Some(AgeGroup { lower: 70 }),
            _ => Some(AgeGroup {
                lower: (age - age % 5) as u8,
            }),
        }
    }

    /// The group of an athlete born in `birth_year` racing in `event_year`. HYROX, like most
    /// mass-participation races, uses the age reached during the race's calendar year.
    pub fn for_birth_year(birth_year: i32, event_year: i32) -> Result<AgeGroup, InvalidInput> {
        let age = event_year - birth_year;
        if !(0..=120).contains(&age) {
            return Err(InvalidInput::new(
                "birthYear",
                format!("{birth_year} gives an age of {age} in {event_year}"),
            ));
        }
        AgeGroup::for_age(age as u32).ok_or_else(|| {
            InvalidInput::new(
                "birthYear",
                format!(
                    "athletes must be at least 16 in the event's year; born {birth_year} is {age}"
                ),
            )
        })
    }

    pub fn label(self) -> String {
        match self.lower {
            16 => "16-24".to_owned(),
            70 => "70+".to_owned(),
            l => format!("{}-{}", l, l + 4),
        }
    }
}

impl FromStr for AgeGroup {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AgeGroup::all()
            .into_iter()
            .find(|g| g.label() == s)
            .ok_or_else(|| {
                let labels: Vec<String> =
                    AgeGroup::all().into_iter().map(AgeGroup::label).collect();
                InvalidInput::new(
                    "ageGroup",
                    format!("`{s}` is not one of {}", labels.join(", ")),
                )
            })
    }
}

impl TryFrom<String> for AgeGroup {
    type Error = InvalidInput;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<AgeGroup> for String {
    fn from(value: AgeGroup) -> Self {
        value.label()
    }
}

impl fmt::Display for AgeGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn age_groups_follow_hyrox_boundaries() {
        let labels: Vec<_> = AgeGroup::all().into_iter().map(AgeGroup::label).collect();
        assert_eq!(
            labels,
            [
                "16-24", "25-29", "30-34", "35-39", "40-44", "45-49", "50-54", "55-59", "60-64",
                "65-69", "70+"
            ]
        );
        assert_eq!(AgeGroup::for_age(24).unwrap().label(), "16-24");
        assert_eq!(AgeGroup::for_age(25).unwrap().label(), "25-29");
        assert_eq!(AgeGroup::for_age(69).unwrap().label(), "65-69");
        assert_eq!(AgeGroup::for_age(83).unwrap().label(), "70+");
        assert!(AgeGroup::for_age(15).is_none());
    }

    #[test]
    fn the_age_group_follows_from_birth_year_and_event_year() {
        assert_eq!(
            AgeGroup::for_birth_year(1990, 2026).unwrap().label(),
            "35-39"
        );
        assert_eq!(
            AgeGroup::for_birth_year(2010, 2026).unwrap().label(),
            "16-24"
        );
        let too_young = AgeGroup::for_birth_year(2015, 2026).unwrap_err();
        assert_eq!(too_young.field, "birthYear");
        assert!(AgeGroup::for_birth_year(1800, 2026).is_err());
    }

    #[test]
    fn labels_round_trip_and_bad_labels_name_the_choices() {
        for g in AgeGroup::all() {
            assert_eq!(g.label().parse::<AgeGroup>().unwrap(), g);
        }
        let err = "18-20".parse::<AgeGroup>().unwrap_err();
        assert!(err.message.contains("16-24"));
        assert_eq!("PRO".parse::<Category>().unwrap(), Category::Pro);
        assert!("pro"
            .parse::<Category>()
            .unwrap_err()
            .message
            .contains("OPEN"));
    }
}
