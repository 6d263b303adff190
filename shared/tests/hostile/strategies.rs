//! Generators of hostile input: text full of the Unicode that breaks naive parsers, domain-like
//! strings built from it, and arbitrary JSON.

use proptest::{collection::vec, prelude::*, sample::select};
use serde_json::{Map, Number, Value};

/// Characters that trip parsers, normalisers and IDNA: bidi controls, zero-width joiners and
/// spaces, combining marks, homoglyphs of Latin letters, emoji (with a ZWJ sequence), dots that
/// IDNA maps to `.`, white space that is not ASCII, controls, the BOM, a soft hyphen, a
/// surrogate's replacement, and ASCII that URLs give meaning to.
const ODD: &[char] = &[
    '\u{200F}',
    '\u{200E}',
    '\u{202E}',
    '\u{2066}',
    '\u{061C}', // bidi marks and overrides
    '\u{200D}',
    '\u{200C}',
    '\u{200B}',
    '\u{2060}',
    '\u{FEFF}', // zero-width
    '\u{0301}',
    '\u{0308}',
    '\u{20DD}',
    '\u{0345}', // combining marks
    'а',
    'е',
    'о',
    'р',
    'ѕ',
    'ı',
    'ß',
    'ς',
    'ǅ',
    'ﬁ',
    'Å',
    'K', // homoglyphs, case oddities
    '😀',
    '👩',
    '🏽',
    '\u{1F1FA}',
    '\u{E0067}', // emoji, skin tone, flag and tag characters
    '。',
    '．',
    '｡',
    '\u{2024}', // dots IDNA maps to '.' (or not)
    '\u{00A0}',
    '\u{3000}',
    '\u{2028}',
    '\u{0085}',
    '\t',
    '\n', // white space
    '\u{0000}',
    '\u{0007}',
    '\u{007F}',
    '\u{009B}',
    '\u{FFFD}',
    '\u{FFFF}', // controls
    '\u{00AD}',
    'ı',
    'İ',
    'ǈ',
    '\u{10FFFF}', // soft hyphen, dotless i, the last code point
    '%',
    '@',
    ':',
    '/',
    '\\',
    '?',
    '#',
    '[',
    ']',
    '.',
    '-',
    '_',
    ' ',
    '"',
    '\'',
];

/// One character: mostly the hostile ones, sometimes any at all, often plain ASCII.
pub fn hostile_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => select(ODD),
        2 => select(('a'..='z').chain('0'..='9').chain(['-', '.']).collect::<Vec<_>>()),
        1 => any::<char>(),
    ]
}

pub fn hostile_text(max_chars: usize) -> impl Strategy<Value = String> {
    vec(hostile_char(), 0..=max_chars).prop_map(String::from_iter)
}

/// Something a caller might send as a domain: labels of plain or hostile text (some of them
/// overlong or punycode-looking), joined by dots or their look-alikes, sometimes dressed as a
/// URL.
pub fn domainish() -> impl Strategy<Value = String> {
    let label = prop_oneof![
        3 => vec(select(('a'..='z').chain('0'..='9').collect::<Vec<_>>()), 1..12)
            .prop_map(String::from_iter),
        3 => hostile_text(6),
        1 => (60usize..70).prop_map(|n| "a".repeat(n)),
        1 => select(vec!["xn--", "xn--bcher-kva", "xn--zz", "xn--ls8h", "www", "com", "例え", "bücher"])
            .prop_map(str::to_owned),
    ];
    let separator = select(vec![".", ".", ".", "。", "．", "..", ""]);
    (
        select(vec![
            "",
            "",
            "https://",
            "http://",
            "ftp://",
            "https://user@",
        ]),
        vec((label, separator), 1..6),
        select(vec!["", "", "/path", ":443", ":99999", ".", "?q=1"]),
    )
        .prop_map(|(scheme, labels, tail)| {
            let mut text = scheme.to_owned();
            for (label, separator) in labels {
                text.push_str(&label);
                text.push_str(separator);
            }
            text.push_str(tail);
            text
        })
}

/// A JSON number, including the extremes serde_json still accepts.
fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        Just(Value::from(f64::MAX)),
        Just(Value::from(u64::MAX)),
    ]
}

/// Arbitrary JSON, a few levels deep, with hostile strings and keys that the parsers know.
pub fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        number(),
        hostile_text(12).prop_map(Value::String),
        domainish().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            vec((key(), inner), 0..6).prop_map(|pairs| Value::Object(Map::from_iter(pairs))),
        ]
    })
}

/// Keys the parsers look for, and some they do not.
pub fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(vec![
            "radar_type", "domain", "email", "profile_url", "full_name", "keyword", "countries",
            "departments", "seniorities", "job_titles", "filters", "custom_fields",
            "webhook_url", "radars",
        ])
        .prop_map(str::to_owned),
        1 => hostile_text(8),
    ]
}

/// A `radar_type`: a real one most of the time, so the fields behind it get exercised.
pub fn radar_type() -> impl Strategy<Value = Value> {
    let names: Vec<&str> = shared::radar::types::RADAR_TYPES
        .iter()
        .map(|row| row.name)
        .collect();
    prop_oneof![
        4 => select(names).prop_map(Value::from),
        1 => json(),
    ]
}

/// One element of `radars[]`: a radar type and any of the fields, with hostile values.
pub fn item() -> impl Strategy<Value = Value> {
    let value = prop_oneof![
        3 => hostile_text(24).prop_map(Value::String),
        3 => domainish().prop_map(Value::String),
        1 => vec(hostile_text(10).prop_map(Value::String), 0..7).prop_map(Value::Array),
        1 => json(),
    ];
    (radar_type(), vec((key(), value), 0..8)).prop_map(|(radar_type, fields)| {
        let mut item = Map::from_iter(fields);
        item.insert("radar_type".to_owned(), radar_type);
        Value::Object(item)
    })
}
