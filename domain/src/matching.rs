//! One athlete across events: whether a result that names no athlete id belongs to an athlete
//! podium already knows.
//!
//! **The rule.** Two names are the same when their normalised keys are equal: accents and
//! other marks folded to ASCII (`Müller` → `muller`, `Søren` → `soren`), case ignored, and the
//! words sorted, so `Schröder, Tim` and `Tim Schroder` are one name. A known athlete is a
//! candidate when the name and the gender are the same and nothing contradicts: a nationality
//! or a birth year that both sides know and that differ rule it out. One candidate: the result
//! is theirs. None: a new athlete. Several: the result is attached to none of them (a new
//! athlete is created for it) and listed as ambiguous, for an admin to merge.

use crate::division::Gender;
use uuid::Uuid;

/// The normalised key of a name: ASCII-folded, lower-case words in sorted order, joined by
/// one space. Empty when the name has no letters or digits.
pub fn name_key(first: &str, last: &str) -> String {
    let folded = deunicode::deunicode(&format!("{first} {last}")).to_lowercase();
    let mut words: Vec<&str> = folded
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    words.sort_unstable();
    words.join(" ")
}

/// A search text as the key's words: ASCII-folded, lower-case.
pub fn search_words(text: &str) -> Vec<String> {
    deunicode::deunicode(text)
        .to_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_owned)
        .collect()
}

/// What is known of a person, on either side of a match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name_key: String,
    pub gender: Gender,
    /// IOC/ISO country code as the source writes it, compared case-insensitively.
    pub nationality: Option<String>,
    pub birth_year: Option<i32>,
}

/// A known athlete with what is known of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    pub id: Uuid,
    pub identity: Identity,
}

/// The outcome of the rule for one result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    Existing(Uuid),
    New,
    /// Several athletes fit: the result is attached to none of them.
    Ambiguous(Vec<Uuid>),
}

fn differ<T: PartialEq>(a: &Option<T>, b: &Option<T>) -> bool {
    matches!((a, b), (Some(a), Some(b)) if a != b)
}

/// Applies the rule (see the module) to `who` among `known`.
pub fn match_athlete(who: &Identity, known: &[Known]) -> Match {
    if who.name_key.is_empty() {
        return Match::New;
    }
    let nationality = |i: &Identity| i.nationality.as_ref().map(|n| n.to_ascii_uppercase());
    let fits: Vec<Uuid> = known
        .iter()
        .filter(|k| {
            let k = &k.identity;
            k.name_key == who.name_key
                && k.gender == who.gender
                && !differ(&nationality(k), &nationality(who))
                && !differ(&k.birth_year, &who.birth_year)
        })
        .map(|k| k.id)
        .collect();
    match fits.as_slice() {
        [] => Match::New,
        [one] => Match::Existing(*one),
        _ => Match::Ambiguous(fits),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(first: &str, last: &str, nat: Option<&str>, year: Option<i32>) -> Identity {
        Identity {
            name_key: name_key(first, last),
            gender: Gender::Men,
            nationality: nat.map(str::to_owned),
            birth_year: year,
        }
    }

    fn known(n: u128, identity: Identity) -> Known {
        Known {
            id: Uuid::from_u128(n),
            identity,
        }
    }

    #[test]
    fn keys_fold_accents_case_and_word_order() {
        assert_eq!(name_key("Tim", "Schröder"), "schroder tim");
        assert_eq!(name_key("TIM", "schroder"), "schroder tim");
        assert_eq!(
            name_key("Søren-Åge", "Ørsted"),
            name_key("soren age", "ORSTED")
        );
        assert_eq!(name_key("", "  "), "");
        assert_eq!(search_words("Schröder, T."), ["schroder", "t"]);
    }

    #[test]
    fn reversed_names_and_accents_match_and_contradictions_do_not() {
        let tim = known(1, who("Tim", "Schroeder", Some("GER"), None));
        // "Last, First" in one source, "First Last" with accents folded in the other.
        let reversed = who("Schroeder", "Tim", Some("ger"), Some(1990));
        assert_eq!(
            match_athlete(&reversed, std::slice::from_ref(&tim)),
            Match::Existing(tim.id)
        );
        let accented = known(2, who("José", "Núñez", None, None));
        assert_eq!(
            match_athlete(
                &who("Jose", "Nunez", Some("ESP"), None),
                std::slice::from_ref(&accented)
            ),
            Match::Existing(accented.id)
        );
        // Same name, another nationality: someone else.
        assert_eq!(
            match_athlete(
                &who("Tim", "Schroeder", Some("AUT"), None),
                std::slice::from_ref(&tim)
            ),
            Match::New
        );
        // Another birth year, another gender: someone else.
        let born = known(3, who("Anna", "Berg", None, Some(1980)));
        assert_eq!(
            match_athlete(
                &who("Anna", "Berg", None, Some(1981)),
                std::slice::from_ref(&born)
            ),
            Match::New
        );
        let mut woman = who("Tim", "Schroeder", Some("GER"), None);
        woman.gender = Gender::Women;
        assert_eq!(
            match_athlete(&woman, std::slice::from_ref(&tim)),
            Match::New
        );
    }

    #[test]
    fn two_fitting_athletes_make_the_result_ambiguous() {
        let a = known(1, who("Tim", "Schroeder", Some("GER"), None));
        let b = known(2, who("Tim", "Schroeder", None, Some(1990)));
        let c = known(3, who("Tim", "Schroeder", Some("AUT"), None));
        let unknown = who("Tim", "Schroeder", None, None);
        assert_eq!(
            match_athlete(&unknown, &[a.clone(), b.clone(), c.clone()]),
            Match::Ambiguous(vec![a.id, b.id, c.id])
        );
        // Knowing the nationality leaves b and the German one.
        let german = who("Tim", "Schroeder", Some("GER"), None);
        assert_eq!(
            match_athlete(&german, &[a.clone(), b.clone(), c]),
            Match::Ambiguous(vec![a.id, b.id])
        );
    }
}
