//! What clients send: an object, a batch of them, a list of ids (JSON, or a form field), read
//! as a stream with the caps enforced while reading.

use std::borrow::Cow;
use std::fmt;

use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::rules::error::{bad_input, AppError, AppResult};

/// The most ids one diff or download request may name.
pub const MAX_IDS_PER_REQUEST: usize = 200_000;
/// The most characters of an object id (Speckle's are 32 hexadecimal digits).
pub const MAX_ID_CHARS: usize = 64;

/// Checks an object id: 1 to 64 ASCII letters and digits (it is a hash; it travels in URLs
/// and in tab-separated lines).
pub fn validate_id(id: &str) -> AppResult<()> {
    if id.is_empty() || id.len() > MAX_ID_CHARS || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(bad_input(format!(
            "object id {:?}: an id is 1 to {MAX_ID_CHARS} letters and digits (a hash).",
            id.chars().take(80).collect::<String>()
        )));
    }
    Ok(())
}

/// One object of a batch, ready to store; borrowed from the batch's text where it can be.
#[derive(Debug)]
pub struct ParsedObject<'a> {
    pub id: Cow<'a, str>,
    pub speckle_type: Option<Cow<'a, str>>,
    pub total_children_count: i64,
    pub data: Cow<'a, str>,
}

/// What we read of an object before storing it; the rest stays as the client wrote it.
#[derive(Deserialize)]
struct Header<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    speckle_type: Option<Cow<'a, str>>,
    #[serde(rename = "__closure", default)]
    closure: Option<EntryCount>,
}

/// How many entries a JSON object has, counted without keeping them.
struct EntryCount(usize);

impl<'de> Deserialize<'de> for EntryCount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Counter;
        impl<'de> Visitor<'de> for Counter {
            type Value = EntryCount;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object of descendant ids and depths")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EntryCount, A::Error> {
                let mut count = 0;
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {
                    count += 1;
                }
                Ok(EntryCount(count))
            }
        }
        deserializer.deserialize_map(Counter)
    }
}

/// Reads one object as a client sent it. An object without an id gets Speckle's: a hash of
/// its JSON (here SHA-256, cut to 32 hexadecimal digits), written into it.
pub fn parse_object(raw: &str) -> AppResult<ParsedObject<'_>> {
    // serde reads a struct from an array as well: `[]` would pass, and be stored as a broken
    // object. Only a JSON object is one.
    if !raw.trim_start().starts_with('{') {
        return Err(bad_input("each object must be a JSON object with an id."));
    }
    let header: Header = serde_json::from_str(raw)
        .map_err(|error| bad_input(format!("each object must be a JSON object with an id: {error}")))?;
    let total_children_count = header.closure.map_or(0, |count| count.0 as i64);
    let (id, data) = match header.id {
        Some(id) => (id, Cow::Borrowed(raw)),
        None => {
            let digest = Sha256::digest(raw.as_bytes());
            let id = hex::encode(&digest[..16]);
            let body = raw.trim_start().strip_prefix('{').unwrap_or_default().trim_start();
            let separator = if body.starts_with('}') { "" } else { "," };
            let data = format!("{{\"id\":\"{id}\"{separator}{body}");
            (Cow::Owned(id), Cow::Owned(data))
        }
    };
    validate_id(&id)?;
    Ok(ParsedObject { id, speckle_type: header.speckle_type, total_children_count, data })
}

/// Reads a batch: a JSON array of objects.
pub fn parse_batch(text: &str) -> AppResult<Vec<ParsedObject<'_>>> {
    let raw: Vec<&RawValue> = serde_json::from_str(text)
        .map_err(|error| bad_input(format!("a batch must be a JSON array of objects: {error}")))?;
    raw.into_iter().map(|object| parse_object(object.get())).collect()
}

/// Reads the `objects` field of a diff or download request: a JSON array of ids, as a string
/// (in a form, as specklepy sends it, or in a JSON body, as Speckle's .NET client does) or as
/// an array in a JSON body. Each id is checked as it is read, and reading stops at the
/// [`MAX_IDS_PER_REQUEST`]th (413): a list of millions of ids is never held.
pub fn parse_id_list(body: &[u8], is_json: bool) -> AppResult<Vec<String>> {
    let problem = std::cell::RefCell::new(None);
    let explain =
        || bad_input("Send the ids as the form field `objects`: a JSON array of object ids, as a string.");
    let parsed = if is_json {
        let mut deserializer = serde_json::Deserializer::from_slice(body);
        serde::de::DeserializeSeed::deserialize(IdListSeed(&problem), &mut deserializer)
            .and_then(|ids| deserializer.end().map(|()| ids))
    } else {
        let Some(field) = form_field(body, "objects") else { return Err(explain()) };
        // Decoded as it is parsed: a list refused at its 200,001st id is decoded no further.
        let decoded = std::io::BufReader::with_capacity(64 * 1024, FormDecoded(field));
        let mut deserializer = serde_json::Deserializer::from_reader(decoded);
        serde::de::DeserializeSeed::deserialize(IdsSeed(&problem), &mut deserializer)
            .and_then(|ids| deserializer.end().map(|()| Some(ids)))
    };
    match (parsed, problem.into_inner()) {
        (Ok(Some(ids)), _) => Ok(ids),
        (_, Some(problem)) => Err(problem),
        _ => Err(explain()),
    }
}

/// The value of the form field `name`, still encoded.
fn form_field<'a>(body: &'a [u8], name: &str) -> Option<&'a [u8]> {
    body.split(|byte| *byte == b'&').find_map(|pair| {
        let (key, value) = match pair.iter().position(|byte| *byte == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &pair[pair.len()..]),
        };
        let (key, _) = form_urlencoded::parse(key).next()?;
        (key == name).then_some(value)
    })
}

/// A form value (`application/x-www-form-urlencoded`: `+` for a space, `%XX` for a byte)
/// read as its decoded bytes, a buffer at a time.
struct FormDecoded<'a>(&'a [u8]);

impl std::io::Read for FormDecoded<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let hex = |digit: u8| char::from(digit).to_digit(16);
        let mut written = 0;
        while written < out.len() {
            let (byte, used) = match *self.0 {
                [] => break,
                [b'+', ..] => (b' ', 1),
                [b'%', high, low, ..] => match (hex(high), hex(low)) {
                    (Some(high), Some(low)) => ((high * 16 + low) as u8, 3),
                    _ => (b'%', 1),
                },
                [byte, ..] => (byte, 1),
            };
            out[written] = byte;
            written += 1;
            self.0 = &self.0[used..];
        }
        Ok(written)
    }
}

/// Where a seed leaves the precise reason a list was refused (serde's errors are text).
type Problem<'p> = &'p std::cell::RefCell<Option<AppError>>;

/// The ids of a JSON array written as text.
fn ids_in_text(text: &str, problem: Problem<'_>) -> Result<Option<Vec<String>>, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let ids = serde::de::DeserializeSeed::deserialize(IdsSeed(problem), &mut deserializer)?;
    deserializer.end()?;
    Ok(Some(ids))
}

/// A JSON body `{"objects": …}`: the field's ids, `None` without the field.
struct IdListSeed<'p>(Problem<'p>);

impl<'de> serde::de::DeserializeSeed<'de> for IdListSeed<'_> {
    type Value = Option<Vec<String>>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for IdListSeed<'_> {
    type Value = Option<Vec<String>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object with the field objects")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut ids = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == "objects" && ids.is_none() {
                ids = Some(map.next_value_seed(FieldSeed(self.0))?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(ids)
    }
}

/// The `objects` field: a JSON array of ids, or the text of one.
struct FieldSeed<'p>(Problem<'p>);

impl<'de> serde::de::DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = Vec<String>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FieldSeed<'_> {
    type Value = Vec<String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array of object ids, or its text")
    }
    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
        match ids_in_text(text, self.0) {
            Ok(Some(ids)) => Ok(ids),
            _ => Err(E::custom("objects is not a JSON array of ids")),
        }
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        IdsSeed(self.0).visit_seq(seq)
    }
}

/// A JSON array of ids, each checked as it is read, at most [`MAX_IDS_PER_REQUEST`].
struct IdsSeed<'p>(Problem<'p>);

impl<'de> serde::de::DeserializeSeed<'de> for IdsSeed<'_> {
    type Value = Vec<String>;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for IdsSeed<'_> {
    type Value = Vec<String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array of object ids")
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        use serde::de::Error;
        let mut ids = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX_IDS_PER_REQUEST));
        while let Some(id) = seq.next_element::<Cow<'de, str>>()? {
            let refused = if ids.len() == MAX_IDS_PER_REQUEST {
                Some(AppError::TooLarge(format!("A request may name at most {MAX_IDS_PER_REQUEST} objects.")))
            } else {
                validate_id(&id).err()
            };
            if let Some(refused) = refused {
                *self.0.borrow_mut() = Some(refused);
                return Err(A::Error::custom("refused"));
            }
            ids.push(id.into_owned());
        }
        Ok(ids)
    }
}

#[cfg(test)]
mod id_list_tests {
    use proptest::prelude::*;

    use super::{parse_id_list, MAX_IDS_PER_REQUEST};
    use crate::rules::error::AppError;

    fn form(text: &str) -> Vec<u8> {
        form_urlencoded::Serializer::new(String::new()).append_pair("objects", text).finish().into_bytes()
    }

    #[test]
    fn the_three_shapes_clients_send_are_read_and_a_list_past_the_cap_stops_there() {
        let ids = vec!["a1".to_owned(), "B2".to_owned()];
        let text = serde_json::to_string(&ids).unwrap();
        assert_eq!(parse_id_list(&form(&text), false).unwrap(), ids);
        // Python's json.dumps puts a space after each comma: a `+` in the form.
        assert_eq!(parse_id_list(&form(r#"["a1", "B2"]"#), false).unwrap(), ids);
        let json = serde_json::json!({ "objects": text }).to_string();
        assert_eq!(parse_id_list(json.as_bytes(), true).unwrap(), ids);
        let array = serde_json::json!({ "other": 1, "objects": ids }).to_string();
        assert_eq!(parse_id_list(array.as_bytes(), true).unwrap(), ids);
        let many = format!("[{}\"a\"]", "\"a\",".repeat(MAX_IDS_PER_REQUEST));
        assert!(matches!(parse_id_list(&form(&many), false), Err(AppError::TooLarge(_))));
        assert!(matches!(parse_id_list(&form(r#"["a\tb"]"#), false), Err(AppError::BadInput(_))));
        assert!(matches!(parse_id_list(b"objects=%5B", false), Err(AppError::BadInput(_))));
        assert!(matches!(parse_id_list(b"nothing=1", false), Err(AppError::BadInput(_))));
    }

    proptest! {
        /// Whatever the body, an answer: the ids, or a 4xx; never a panic.
        #[test]
        fn any_body_is_read_or_refused(body in prop::collection::vec(any::<u8>(), 0..200), is_json: bool) {
            let _ = parse_id_list(&body, is_json);
            let mut field = b"objects=".to_vec();
            field.extend(&body);
            let _ = parse_id_list(&field, false);
        }

        /// Any list of ids survives its trip through a form and through JSON.
        #[test]
        fn ids_round_trip(ids in prop::collection::vec("[a-zA-Z0-9]{1,64}", 0..20)) {
            let text = serde_json::to_string(&ids).unwrap();
            prop_assert_eq!(&parse_id_list(&form(&text), false).unwrap(), &ids);
            let json = serde_json::json!({ "objects": text }).to_string();
            prop_assert_eq!(&parse_id_list(json.as_bytes(), true).unwrap(), &ids);
        }
    }
}
