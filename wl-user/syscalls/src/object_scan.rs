//! Reads a Linux source tree for the names of what a syscall reaches through a file
//! descriptor or a command argument:
//!
//! - which file defines each function that `struct file_operations`, `struct proto_ops`
//!   and `struct proto` initialisers name (`pipe_read`, `sock_ioctl`, `tcp_sendmsg`):
//!   the kernel side records such a function's address, /proc/kallsyms names it;
//! - filesystem magic numbers (include/uapi/linux/magic.h) and the code whose superblocks
//!   carry them; the anon-inode names given with each `file_operations`;
//! - address families, socket types and protocols, and the code behind each;
//! - command numbers with their defining header: ioctl requests, fcntl commands, prctl
//!   options, futex operations, bpf commands, socket option levels and names.
//!
//! Commands are taken from the `case` labels of the switch that serves them where there
//! is one (fs/fcntl.c's `do_fcntl`, kernel/sys.c's prctl), so a header's other defines
//! (flags, sub-options) do not pose as commands. Values come from a small evaluator of
//! `#define` expressions.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    fs,
    path::Path,
};

use anyhow::Result;

/// `struct file_operations` members whose functions serve a syscall on a file.
pub const FILE_OPS_MEMBERS: &[&str] = &[
    "read",
    "write",
    "read_iter",
    "write_iter",
    "unlocked_ioctl",
    "compat_ioctl",
    "llseek",
    "fsync",
    "iterate_shared",
    "mmap",
    "splice_read",
    "splice_write",
    "release",
    "fallocate",
    "poll",
];

/// `struct proto_ops` members: the socket layer's per-family operations.
pub const PROTO_OPS_MEMBERS: &[&str] = &[
    "release",
    "bind",
    "connect",
    "socketpair",
    "accept",
    "getname",
    "poll",
    "ioctl",
    "compat_ioctl",
    "listen",
    "shutdown",
    "setsockopt",
    "getsockopt",
    "sendmsg",
    "recvmsg",
    "mmap",
    "splice_read",
];

/// `struct proto` members (include/net/sock.h): what a family's generic code
/// (`inet_sendmsg`) hands on to the protocol (`tcp_sendmsg`) through `sk->sk_prot`.
pub const PROTO_MEMBERS: &[&str] = &[
    "close",
    "connect",
    "disconnect",
    "accept",
    "ioctl",
    "shutdown",
    "setsockopt",
    "getsockopt",
    "sendmsg",
    "recvmsg",
    "splice_eof",
    "bind",
];

/// Headers whose plain-number defines are ioctl requests (not `_IOC`-encoded).
pub const PLAIN_IOCTL_HEADERS: &[&str] = &[
    "include/uapi/asm-generic/ioctls.h",
    "include/uapi/linux/sockios.h",
    "include/uapi/asm-generic/sockios.h",
];

/// Command sets taken from the `case` labels of a switch: (set name, file, the text
/// that starts the serving function, the switch's expression, headers giving values).
pub const SWITCH_COMMANDS: &[(&str, &str, &str, &str, &[&str])] = &[
    (
        "fcntl",
        "fs/fcntl.c",
        "do_fcntl(",
        "cmd",
        &[
            "include/uapi/asm-generic/fcntl.h",
            "include/uapi/linux/fcntl.h",
        ],
    ),
    (
        "prctl",
        "kernel/sys.c",
        "SYSCALL_DEFINE5(prctl,",
        "option",
        &["include/uapi/linux/prctl.h"],
    ),
    // prctl() asks the security modules first: the capability bounding set, ambient
    // capabilities, securebits and Yama's ptracer are theirs, not kernel/sys.c's.
    (
        "prctl",
        "security/commoncap.c",
        "int cap_task_prctl(",
        "option",
        &["include/uapi/linux/prctl.h"],
    ),
    (
        "prctl",
        "security/yama/yama_lsm.c",
        "static int yama_task_prctl(",
        "option",
        &["include/uapi/linux/prctl.h"],
    ),
    (
        "futex",
        "kernel/futex/syscalls.c",
        "do_futex(",
        "cmd",
        &["include/uapi/linux/futex.h"],
    ),
    (
        "sockopt:1",
        "net/core/sock.c",
        "sk_setsockopt(",
        "optname",
        &["include/uapi/asm-generic/socket.h"],
    ),
    (
        "sockopt:1",
        "net/core/sock.c",
        "sk_getsockopt(",
        "optname",
        &["include/uapi/asm-generic/socket.h"],
    ),
    (
        "sockopt:6",
        "net/ipv4/tcp.c",
        "do_tcp_setsockopt(",
        "optname",
        &["include/uapi/linux/tcp.h"],
    ),
    (
        "sockopt:6",
        "net/ipv4/tcp.c",
        "do_tcp_getsockopt(",
        "optname",
        &["include/uapi/linux/tcp.h"],
    ),
    (
        "sockopt:0",
        "net/ipv4/ip_sockglue.c",
        "do_ip_setsockopt(",
        "optname",
        &["include/uapi/linux/in.h"],
    ),
    (
        "sockopt:0",
        "net/ipv4/ip_sockglue.c",
        "do_ip_getsockopt(",
        "optname",
        &["include/uapi/linux/in.h"],
    ),
    (
        "sockopt:41",
        "net/ipv6/ipv6_sockglue.c",
        "do_ipv6_setsockopt(",
        "optname",
        &["include/uapi/linux/in6.h", "include/uapi/linux/ipv6.h"],
    ),
    (
        "sockopt:41",
        "net/ipv6/ipv6_sockglue.c",
        "do_ipv6_getsockopt(",
        "optname",
        &["include/uapi/linux/in6.h", "include/uapi/linux/ipv6.h"],
    ),
];

/// A named set of command values with the header that defines them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CommandSet {
    /// `fcntl`, `prctl`, `futex`, `bpf`, `sol` (socket option levels) or `sockopt:<level>`.
    pub set: String,
    pub header: String,
    pub values: Vec<(u32, String)>,
}

/// An ioctl request: (dir << 16 | type << 8 | nr) for `_IOC`-encoded ones, the whole
/// number for plain ones; its name and header.
#[derive(Debug, Clone, PartialEq)]
pub struct Ioctl {
    pub key: u32,
    pub header: String,
    pub name: String,
}

/// A socket protocol as `struct inet_protosw` registers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Protocol {
    pub family: u32,
    pub sock_type: u32,
    /// 0 (`IPPROTO_IP`) registers a wildcard for every protocol of the type.
    pub protocol: u32,
    /// The `struct proto`'s `.name` ("TCP", "UDPv6").
    pub name: String,
    /// Where its `sendmsg` is defined (net/ipv4/tcp.c), else where the proto is.
    pub source: String,
    /// Its [`PROTO_MEMBERS`] that name a function, in that order, as
    /// `member=function` separated by spaces: `connect=tcp_v4_connect sendmsg=tcp_sendmsg`.
    pub ops: String,
}

#[derive(Debug, Default)]
pub struct ObjectScan {
    /// Handler functions by defining file: (file, functions), sorted by file.
    pub handlers: BTreeMap<String, BTreeSet<String>>,
    /// (magic, names from magic.h, code that uses it: a directory for a filesystem of
    /// its own under fs/, else the file).
    pub fs_magics: Vec<(u32, Vec<String>, Option<String>)>,
    /// (release function, anon-inode name without brackets).
    pub anon_types: Vec<(String, String)>,
    /// (AF_ value, AF_ name, file defining its `struct net_proto_family`).
    pub families: Vec<(u32, String, Option<String>)>,
    pub sock_types: Vec<(u32, String)>,
    pub ip_protocols: Vec<(u32, String)>,
    pub netlink_protocols: Vec<(u32, String)>,
    pub protocols: Vec<Protocol>,
    pub ioctl_plain: Vec<Ioctl>,
    pub ioctl_encoded: Vec<Ioctl>,
    /// (request name, function, file) of each `case` that serves an ioctl request, by
    /// name.
    pub ioctl_cases: Vec<(String, String, String)>,
    pub commands: Vec<CommandSet>,
}

// ---------------------------------------------------------------------------------
// C text

/// `text` with comments blanked out (newlines kept, so lines stay lines); strings and
/// character literals are kept as they are.
pub fn strip_comments(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let end = text[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
                out.extend(b[i..end].iter().map(|&c| if c == b'\n' { c } else { b' ' }));
                i = end;
            }
            b'/' if b.get(i + 1) == Some(&b'/') => {
                let end = text[i..].find('\n').map_or(b.len(), |e| i + e);
                out.extend(std::iter::repeat_n(b' ', end - i));
                i = end;
            }
            q @ (b'"' | b'\'') => {
                let start = i;
                i += 1;
                while i < b.len() && b[i] != q && b[i] != b'\n' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(b.len());
                out.extend_from_slice(&b[start..i]);
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    // Only ASCII bytes were replaced, by ASCII: still UTF-8.
    String::from_utf8(out).unwrap_or_default()
}

/// The index of the bracket closing the one at `open`, skipping strings and character
/// literals.
fn matching(b: &[u8], open: usize) -> Option<usize> {
    let (o, c) = match b.get(open)? {
        b'(' => (b'(', b')'),
        b'{' => (b'{', b'}'),
        b'[' => (b'[', b']'),
        _ => return None,
    };
    let mut depth = 0usize;
    let mut i = open;
    while i < b.len() {
        match b[i] {
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < b.len() && b[i] != q && b[i] != b'\n' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            x if x == o => depth += 1,
            x if x == c => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Splits `s` at commas outside brackets.
fn split_top(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' | '{' | '[' => depth += 1,
            ')' | '}' | ']' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

fn is_ident(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// A header's object-like defines: (name, body).
pub type Defines = Vec<(String, String)>;

/// The object-like `#define`s of a header, in order: (name, body). Continuation lines
/// are joined; comments must be stripped first.
pub fn parse_defines(text: &str) -> Defines {
    let joined = text.replace("\\\n", " ");
    let mut out = Vec::new();
    for line in joined.lines() {
        let Some(rest) = line.trim_start().strip_prefix('#') else {
            continue;
        };
        let Some(rest) = rest.trim_start().strip_prefix("define") else {
            continue;
        };
        if !rest.starts_with([' ', '\t']) {
            continue;
        }
        let rest = rest.trim_start();
        let name = ident_at(rest);
        // A '(' right after the name makes a function-like macro.
        if name.is_empty() || rest[name.len()..].starts_with('(') {
            continue;
        }
        out.push((name.to_string(), rest[name.len()..].trim().to_string()));
    }
    out
}

// ---------------------------------------------------------------------------------
// #define expressions

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(i64),
    Ident(String),
    Op(&'static str),
}

fn tokenize(s: &str) -> Option<Vec<Tok>> {
    const OPS: &[&str] = &[
        "<<", ">>", "(", ")", "+", "-", "*", "/", "%", "|", "&", "^", "~", "!",
    ];
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric()) {
                i += 1;
            }
            let lit = s[start..i].trim_end_matches(['u', 'U', 'l', 'L']);
            let v = if let Some(h) = lit.strip_prefix("0x").or_else(|| lit.strip_prefix("0X")) {
                i64::from_str_radix(h, 16).ok()?
            } else if lit.len() > 1 && lit.starts_with('0') {
                i64::from_str_radix(&lit[1..], 8).ok()?
            } else {
                lit.parse().ok()?
            };
            out.push(Tok::Num(v));
        } else if c == b'\'' {
            // A character literal: 'T', '\x12', '\0', '\\'.
            let end = s[i + 1..].find('\'')? + i + 1;
            let body = &s[i + 1..end];
            let v = match body.as_bytes() {
                [x] => i64::from(*x),
                [b'\\', b'x', ..] => i64::from_str_radix(&body[2..], 16).ok()?,
                [b'\\', d @ b'0'..=b'7', ..] => {
                    i64::from_str_radix(std::str::from_utf8(&[*d]).ok()?, 8).ok()?
                }
                [b'\\', x] => i64::from(*x),
                _ => return None,
            };
            out.push(Tok::Num(v));
            i = end + 1;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let id = ident_at(&s[i..]);
            out.push(Tok::Ident(id.to_string()));
            i += id.len();
        } else {
            let op = OPS.iter().find(|op| s[i..].starts_with(**op))?;
            out.push(Tok::Op(op));
            i += op.len();
        }
    }
    Some(out)
}

/// Words that make a parenthesised group a cast, which the evaluator skips.
const TYPE_WORDS: &[&str] = &[
    "int",
    "unsigned",
    "signed",
    "long",
    "short",
    "char",
    "__u8",
    "__u16",
    "__u32",
    "__u64",
    "__s8",
    "__s16",
    "__s32",
    "__s64",
    "u8",
    "u16",
    "u32",
    "u64",
    "__kernel_ulong_t",
    "size_t",
    "__le16",
    "__le32",
    "__be16",
    "__be32",
];

/// Evaluates a C preprocessor expression: numbers, character literals, other defines
/// (through `lookup`), `+ - * / % << >> | & ^ ~ !`, parentheses; casts to plain
/// integer types are skipped. `None` for anything else (function-like macros, sizeof).
pub fn eval(expr: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Option<i64> {
    eval_depth(expr, lookup, 0)
}

fn eval_depth(expr: &str, lookup: &dyn Fn(&str) -> Option<String>, depth: u32) -> Option<i64> {
    // Self-referring or cyclic defines (`#define IPPROTO_IP IPPROTO_IP`) end here.
    if depth > 24 {
        return None;
    }
    let toks = tokenize(expr)?;
    let mut p = Parser {
        toks: &toks,
        pos: 0,
        lookup,
        depth,
    };
    let v = p.binary(0)?;
    (p.pos == toks.len()).then_some(v)
}

struct Parser<'a> {
    toks: &'a [Tok],
    pos: usize,
    lookup: &'a dyn Fn(&str) -> Option<String>,
    depth: u32,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    /// Precedence climbing over C's binary operators, loosest first.
    fn binary(&mut self, level: usize) -> Option<i64> {
        const LEVELS: &[&[&str]] = &[
            &["|"],
            &["^"],
            &["&"],
            &["<<", ">>"],
            &["+", "-"],
            &["*", "/", "%"],
        ];
        if level == LEVELS.len() {
            return self.unary();
        }
        let mut v = self.binary(level + 1)?;
        while let Some(Tok::Op(op)) = self.peek() {
            let op = *op;
            if !LEVELS[level].contains(&op) {
                break;
            }
            self.pos += 1;
            let r = self.binary(level + 1)?;
            v = match op {
                "|" => v | r,
                "^" => v ^ r,
                "&" => v & r,
                "<<" => v.checked_shl(u32::try_from(r).ok()?)?,
                ">>" => v.checked_shr(u32::try_from(r).ok()?)?,
                "+" => v.wrapping_add(r),
                "-" => v.wrapping_sub(r),
                "*" => v.wrapping_mul(r),
                "/" => v.checked_div(r)?,
                _ => v.checked_rem(r)?,
            };
        }
        Some(v)
    }

    fn unary(&mut self) -> Option<i64> {
        match self.peek()?.clone() {
            Tok::Op("-") => {
                self.pos += 1;
                Some(self.unary()?.wrapping_neg())
            }
            Tok::Op("+") => {
                self.pos += 1;
                self.unary()
            }
            Tok::Op("~") => {
                self.pos += 1;
                Some(!self.unary()?)
            }
            Tok::Op("!") => {
                self.pos += 1;
                Some(i64::from(self.unary()? == 0))
            }
            Tok::Op("(") => {
                if let Some(after) = self.cast_end() {
                    self.pos = after;
                    return self.unary();
                }
                self.pos += 1;
                let v = self.binary(0)?;
                (self.peek() == Some(&Tok::Op(")"))).then_some(())?;
                self.pos += 1;
                Some(v)
            }
            Tok::Num(n) => {
                self.pos += 1;
                Some(n)
            }
            Tok::Ident(id) => {
                self.pos += 1;
                if self.peek() == Some(&Tok::Op("(")) {
                    return None;
                }
                let body = (self.lookup)(&id)?;
                eval_depth(&body, self.lookup, self.depth + 1)
            }
            Tok::Op(_) => None,
        }
    }

    /// If a cast starts at the current '(', the position after its ')'.
    fn cast_end(&self) -> Option<usize> {
        let mut i = self.pos + 1;
        let mut words = 0;
        while let Some(Tok::Ident(w)) = self.toks.get(i) {
            if !TYPE_WORDS.contains(&w.as_str()) {
                return None;
            }
            words += 1;
            i += 1;
        }
        (words > 0 && self.toks.get(i) == Some(&Tok::Op(")"))).then_some(i + 1)
    }
}

/// The values of a header's defines, resolved through each other; those that are not
/// plain numbers are left out.
pub fn define_values(defines: &[(String, String)]) -> Vec<(String, i64)> {
    let map: HashMap<&str, &str> = defines
        .iter()
        .rev()
        .map(|(n, b)| (n.as_str(), b.as_str()))
        .collect();
    let lookup = |n: &str| map.get(n).map(|b| b.to_string());
    defines
        .iter()
        .filter_map(|(n, b)| Some((n.clone(), eval(b, &lookup)?)))
        .collect()
}

/// The members of every enum in `text` (comments stripped), in order: each value is the
/// previous one plus one unless given, and may refer to earlier members or `lookup`.
pub fn enum_values(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Vec<Vec<(String, i64)>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find("enum") {
        let at = from + at;
        from = at + 4;
        let boundary = at == 0 || !(b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'_');
        if !boundary {
            continue;
        }
        let rest = &text[at + 4..];
        let head_len = rest.find(['{', ';', '(', ')', '=']).unwrap_or(rest.len());
        if !rest[..head_len]
            .trim()
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c.is_whitespace())
            || rest.as_bytes().get(head_len) != Some(&b'{')
        {
            continue;
        }
        let open = at + 4 + head_len;
        let Some(close) = matching(b, open) else {
            continue;
        };
        let body: String = text[open + 1..close]
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        let mut members: Vec<(String, i64)> = Vec::new();
        let mut next = 0i64;
        for item in split_top(&body) {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            let (name, value) = match item.split_once('=') {
                Some((n, v)) => (n.trim(), Some(v.trim())),
                None => (item, None),
            };
            if !is_ident(name) {
                members.clear();
                break;
            }
            let v = match value {
                None => next,
                Some(v) => {
                    let known = |n: &str| {
                        members
                            .iter()
                            .find(|(m, _)| m == n)
                            .map(|(_, v)| v.to_string())
                            .or_else(|| lookup(n))
                    };
                    match eval(v, &known) {
                        Some(v) => v,
                        None => {
                            // The rest of the enum cannot be numbered either.
                            break;
                        }
                    }
                }
            };
            members.push((name.to_string(), v));
            next = v.wrapping_add(1);
        }
        from = close;
        if !members.is_empty() {
            out.push(members);
        }
    }
    out
}

/// The `case` labels directly under every `switch (expr)` of the function whose text
/// starts with `start` (e.g. `do_fcntl(`), in order; a nested switch's labels are not
/// included. Comments must be stripped first.
pub fn switch_cases(text: &str, start: &str, expr: &str) -> Vec<String> {
    let b = text.as_bytes();
    let mut from = 0;
    // The definition, not a declaration or a call: its ')' is followed by '{'.
    let body = loop {
        let Some(at) = text[from..].find(start) else {
            return Vec::new();
        };
        let at = from + at;
        from = at + start.len();
        let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        if text[line_start..at].contains(['=', ';', '('])
            || text[line_start..at].starts_with([' ', '\t'])
        {
            continue;
        }
        let Some(open) = start.find('(').map(|i| at + i) else {
            return Vec::new();
        };
        let Some(close) = matching(b, open) else {
            continue;
        };
        let after = text[close + 1..].trim_start();
        if after.starts_with('{') {
            let open = text.len() - after.len();
            let Some(end) = matching(b, open) else {
                return Vec::new();
            };
            break (open, end);
        }
    };
    let needle = format!("switch ({expr})");
    let mut out = Vec::new();
    let mut pos = body.0;
    while let Some(at) = text[pos..body.1].find(&needle) {
        let at = pos + at;
        pos = at + needle.len();
        let Some(open) = text[pos..body.1].find('{').map(|i| pos + i) else {
            break;
        };
        let Some(close) = matching(b, open) else {
            break;
        };
        let mut depth = 0;
        let mut i = open;
        while i < close {
            match b[i] {
                b'{' => depth += 1,
                b'}' => depth -= 1,
                b'c' if depth == 1
                    && text[i..].starts_with("case")
                    && !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_') =>
                {
                    let rest = text[i + 4..].trim_start();
                    let label = ident_at(rest);
                    if !label.is_empty() && rest[label.len()..].trim_start().starts_with(':') {
                        out.push(label.to_string());
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }
    out.dedup();
    out
}

// ---------------------------------------------------------------------------------
// Initialisers and definitions

/// One `struct NAME var = { .member = value, ... }` (or one element of an array of them).
#[derive(Debug, Clone, PartialEq)]
pub struct Initialiser {
    pub var: String,
    /// (member, value as written, trimmed)
    pub members: Vec<(String, String)>,
}

/// The initialisers of `struct <name>` variables in `text` (comments stripped).
pub fn initialisers(text: &str, name: &str) -> Vec<Initialiser> {
    let b = text.as_bytes();
    let needle = format!("struct {name}");
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = text[from..].find(&needle) {
        let at = from + at;
        from = at + needle.len();
        let rest = &text[from..];
        // `struct proto` must not match `struct proto_ops`.
        if !rest.starts_with([' ', '\t', '\n']) {
            continue;
        }
        let rest = rest.trim_start();
        let var = ident_at(rest);
        if var.is_empty() {
            continue;
        }
        let after_var = &rest[var.len()..];
        let Some(eq) = after_var.find(['=', ';', '(', '{', ')']) else {
            continue;
        };
        if after_var.as_bytes()[eq] != b'=' {
            continue;
        }
        let is_array = after_var[..eq].contains('[');
        let tail = after_var[eq + 1..].trim_start();
        if !tail.starts_with('{') {
            continue;
        }
        let open = text.len() - tail.len();
        let Some(close) = matching(b, open) else {
            continue;
        };
        // Members under #ifdef are kept: the tables name what any configuration builds.
        let body: String = text[open + 1..close]
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        let body = body.as_str();
        let elements: Vec<&str> = if is_array {
            split_top(body)
                .into_iter()
                .filter_map(|e| {
                    let e = e.trim();
                    e.strip_prefix('{')?.strip_suffix('}')
                })
                .collect()
        } else {
            vec![body]
        };
        for e in elements {
            let members = split_top(e)
                .into_iter()
                .filter_map(|m| {
                    let m = m.trim().strip_prefix('.')?;
                    let (k, v) = m.split_once('=')?;
                    Some((k.trim().to_string(), v.trim().to_string()))
                })
                .collect();
            out.push(Initialiser {
                var: var.to_string(),
                members,
            });
        }
        from = close;
    }
    out
}

/// The function an initialiser's value names: `pipe_read`, `&x`, `(cast)x`; `None`
/// for expressions (`NULL`, `PTR_IF(...)`).
pub fn function_value(v: &str) -> Option<&str> {
    let v = v.trim().trim_start_matches('&').trim();
    let v = match v.strip_prefix('(') {
        Some(r) => r.split_once(')')?.1.trim(),
        None => v,
    };
    (is_ident(v) && v != "NULL" && !v.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .then_some(v)
}

/// The functions defined in `text` (comments stripped): (name, static). A definition
/// starts at the beginning of a line with its return type or its name, and its
/// parameter list is followed by a body, not by ';'.
pub fn function_definitions(text: &str) -> Vec<(String, bool)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut prev_line = "";
    let mut offset = 0;
    for line in text.split('\n') {
        let start = offset;
        offset += line.len() + 1;
        let first = line.as_bytes().first().copied().unwrap_or(b' ');
        let prev = std::mem::replace(&mut prev_line, line);
        if !(first.is_ascii_alphabetic() || first == b'_') || line.starts_with("typedef") {
            continue;
        }
        let Some(paren) = line.find('(') else {
            continue;
        };
        let head = &line[..paren];
        if head.contains(['=', ';', '{', '"', '#']) {
            continue;
        }
        let head = head.trim_end();
        let name_start = head
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        let name = &head[name_start..];
        if !is_ident(name) {
            continue;
        }
        let Some(close) = matching(b, start + paren) else {
            continue;
        };
        // Attributes between the parameters and the body: `__releases(x)`.
        let mut rest = text[close + 1..].trim_start();
        for _ in 0..3 {
            let attr = ident_at(rest);
            if attr.is_empty() {
                break;
            }
            rest = rest[attr.len()..].trim_start();
            if rest.starts_with('(') {
                let open = text.len() - rest.len();
                let Some(c) = matching(b, open) else { break };
                rest = text[c + 1..].trim_start();
            }
        }
        if rest.starts_with('{') {
            let is_static = head.contains("static")
                || (name_start == 0 && prev.split_whitespace().any(|w| w == "static"));
            out.push((name.to_string(), is_static));
        }
    }
    out
}

/// Which argument of a syscall (0-based) is its first file descriptor, from the
/// parameter names of its definition: `SYSCALL_DEFINE3(read, unsigned int, fd, ...)`.
/// Directory fds (`dfd`) resolve paths rather than serve the call, and a second fd
/// (`newfd`) or a group leader (`group_fd`) is not what the call operates on.
pub fn fd_arg(params: &[(String, String)]) -> Option<u8> {
    const FD_NAMES: &[&str] = &[
        "fd",
        "ufd",
        "epfd",
        "mqdes",
        "pidfd",
        "in_fd",
        "out_fd",
        "fd_in",
        "fd_out",
        "fdin",
        "fdout",
        "oldfd",
        "fildes",
        "fs_fd",
        "fanotify_fd",
        "ruleset_fd",
        "kernel_fd",
    ];
    params
        .iter()
        .position(|(ty, name)| FD_NAMES.contains(&name.as_str()) && !ty.contains('*'))
        .and_then(|i| u8::try_from(i).ok())
}

// ---------------------------------------------------------------------------------
// The scan

/// The directory that names a filesystem of its own (fs/ext4/), else the file.
fn fs_source(file: &str) -> String {
    let parts: Vec<&str> = file.split('/').collect();
    if parts.len() > 2 && parts[0] == "fs" {
        format!("fs/{}/", parts[1])
    } else {
        file.to_string()
    }
}

struct Walked {
    /// (file, initialisers of file_operations, proto_ops, proto, inet_protosw,
    /// net_proto_family)
    inits: Vec<(String, [Vec<Initialiser>; 5])>,
    /// Functions each file defines itself.
    own_defs: HashMap<String, Vec<String>>,
    /// Non-static definitions: name → files.
    global_defs: HashMap<String, Vec<u32>>,
    files: Vec<String>,
    /// (magic define, file, rank: lower is surer)
    magic_uses: Vec<(String, String, u8)>,
    /// (anon-inode name, fops variable, file)
    anon_names: Vec<(String, String, String)>,
    /// Variables registered with inet6_register_protosw.
    inet6_protosw: Vec<String>,
    /// (`case` label, file, function it is in) in files that handle ioctls: where a
    /// request is served.
    cases: Vec<(String, String, String)>,
}

const STRUCTS: [&str; 5] = [
    "file_operations",
    "proto_ops",
    "proto",
    "inet_protosw",
    "net_proto_family",
];

/// Gathers the object tables' facts from each C file of a tree (see
/// `scan::each_c_file`, which walks it once for this and the syscall scan).
pub struct Walker {
    magic_res: Vec<(regex_lite::Regex, u8)>,
    case_re: regex_lite::Regex,
    anon_re: regex_lite::Regex,
    protosw6_re: regex_lite::Regex,
    w: Walked,
}

impl Default for Walker {
    fn default() -> Walker {
        Walker::new()
    }
}

impl Walker {
    pub fn new() -> Walker {
        let magic_res: Vec<(regex_lite::Regex, u8)> = [
            (r"\b(?:s_magic|magic)\s*=\s*([A-Z0-9_]+MAGIC)\b", 0),
            (r"\binit_pseudo\s*\([^,]+,\s*([A-Z0-9_]+MAGIC)\s*\)", 0),
            (r"\bsimple_fill_super\s*\([^,]+,\s*([A-Z0-9_]+MAGIC)\b", 0),
            (r"\bf_type\s*=\s*([A-Z0-9_]+MAGIC)\b", 1),
            (
                r"\bs_magic\s*[!=]=\s*(?:cpu_to_le\d+\()?([A-Z0-9_]+MAGIC)\b",
                2,
            ),
        ]
        .into_iter()
        .map(|(r, rank)| (regex_lite::Regex::new(r).expect("valid regex"), rank))
        .collect();
        let anon_re = regex_lite::Regex::new(r#"anon_inode_\w+\(\s*"\[?([\w-]+)\]?"\s*,\s*&(\w+)"#)
            .expect("valid regex");
        let protosw6_re =
            regex_lite::Regex::new(r"inet6_register_protosw\(\s*&?(\w+)").expect("valid regex");
        let case_re =
            regex_lite::Regex::new(r"\bcase\s+([A-Z][A-Z0-9_]+)\s*:").expect("valid regex");
        Walker {
            magic_res,
            case_re,
            anon_re,
            protosw6_re,
            w: Walked {
                inits: Vec::new(),
                own_defs: HashMap::new(),
                global_defs: HashMap::new(),
                files: Vec::new(),
                magic_uses: Vec::new(),
                anon_names: Vec::new(),
                inet6_protosw: Vec::new(),
                cases: Vec::new(),
            },
        }
    }

    /// Takes in the C file at `rel` (relative to the tree), whose text is `raw`.
    pub fn visit(&mut self, rel: &str, raw: &str) {
        let text = strip_comments(raw);
        let idx = self.w.files.len() as u32;
        self.w.files.push(rel.to_owned());
        let defs = function_definitions(&text);
        let mut own = Vec::new();
        for (f, is_static) in defs {
            if !is_static {
                self.w.global_defs.entry(f.clone()).or_default().push(idx);
            }
            own.push(f);
        }
        let inits: [Vec<Initialiser>; 5] = STRUCTS.map(|s| {
            if text.contains(s) {
                initialisers(&text, s)
            } else {
                Vec::new()
            }
        });
        if inits.iter().any(|v| !v.is_empty()) {
            self.w.own_defs.insert(rel.to_owned(), own);
            self.w.inits.push((rel.to_owned(), inits));
        }
        // regex-lite has no literal prefilter: only files that can match meet it.
        if text.contains("MAGIC")
            && ["magic", "init_pseudo", "simple_fill_super", "f_type"]
                .iter()
                .any(|w| text.contains(w))
        {
            for (re, rank) in &self.magic_res {
                for c in re.captures_iter(&text) {
                    self.w
                        .magic_uses
                        .push((c[1].to_string(), rel.to_owned(), *rank));
                }
            }
        }
        if text.contains("anon_inode_") {
            for c in self.anon_re.captures_iter(&text) {
                self.w
                    .anon_names
                    .push((c[1].to_string(), c[2].to_string(), rel.to_owned()));
            }
        }
        // Where ioctl requests are served: `case SIOCGIFCONF:` in a function of a file
        // that handles ioctls.
        if text.contains("ioctl") && text.contains("case ") {
            for c in self.case_re.captures_iter(&text) {
                let at = c.get(0).map_or(0, |m| m.start());
                if let Some(function) = enclosing_function(&text, at) {
                    self.w
                        .cases
                        .push((c[1].to_string(), rel.to_owned(), function));
                }
            }
        }
        if text.contains("inet6_register_protosw") {
            for c in self.protosw6_re.captures_iter(&text) {
                self.w.inet6_protosw.push(c[1].to_string());
            }
        }
    }
}

/// Where `func`, named in an initialiser in `file`, is defined.
fn definition_file(w: &Walked, file: &str, func: &str) -> String {
    if w.own_defs
        .get(file)
        .is_some_and(|d| d.iter().any(|f| f == func))
    {
        return file.to_string();
    }
    if let Some(cands) = w.global_defs.get(func) {
        // Several non-static definitions of one name are alternatives for different
        // configurations or architectures; the nearest to the initialiser is the one
        // built with it.
        let near = |c: &&u32| {
            let f = &w.files[**c as usize];
            let common = f
                .split('/')
                .zip(file.split('/'))
                .take_while(|(a, b)| a == b)
                .count();
            (
                std::cmp::Reverse(common),
                f.contains("nommu") || f.contains("stub"),
                f.clone(),
            )
        };
        if let Some(best) = cands.iter().min_by_key(near) {
            return w.files[*best as usize].clone();
        }
    }
    // Made by a macro (DEFINE_SHOW_ATTRIBUTE) or in an included file: the
    // initialiser's file is the best guess.
    file.to_string()
}

/// A file's text without comments; empty when the tree lacks it (an older or trimmed
/// tree then gives smaller tables, which the generator's counts show).
fn read_text(tree: &Path, rel: &str) -> Result<String> {
    let bytes = super::source::read(&tree.join(rel))?.unwrap_or_default();
    Ok(strip_comments(&String::from_utf8_lossy(&bytes)))
}

/// Every object-like define under `dir` (recursively), by header: (path, defines).
fn headers_under(tree: &Path, dir: &str) -> Result<Vec<(String, Defines)>> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_string()];
    while let Some(rel) = todo.pop() {
        let Ok(rd) = fs::read_dir(tree.join(&rel)) else {
            continue;
        };
        for entry in rd {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let child = format!("{rel}/{name}");
            if entry.file_type()?.is_dir() {
                todo.push(child);
            } else if name.ends_with(".h") {
                let text = read_text(tree, &child)?;
                out.push((child, parse_defines(&text)));
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// An ioctl define's (dir, type, nr), following aliases to other defines. The size
/// argument is a type whose size the source alone cannot give, so requests are matched
/// by (dir, type, nr) only.
fn ioctl_triple(
    body: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    depth: u32,
) -> Option<(u32, u32, u32)> {
    let body = body.trim();
    if depth > 8 {
        return None;
    }
    if is_ident(body) {
        return ioctl_triple(&lookup(body)?, lookup, depth + 1);
    }
    if body.starts_with('(') && matching(body.as_bytes(), 0) == Some(body.len() - 1) {
        return ioctl_triple(&body[1..body.len() - 1], lookup, depth + 1);
    }
    let (dir, macro_len) = [("_IOWR(", 3), ("_IOR(", 2), ("_IOW(", 1), ("_IO(", 0)]
        .into_iter()
        .find_map(|(m, d)| body.starts_with(m).then_some((d, m.len())))?;
    let open = macro_len - 1;
    if matching(body.as_bytes(), open) != Some(body.len() - 1) {
        return None;
    }
    let args = split_top(&body[open + 1..body.len() - 1]);
    let ty = eval(args.first()?, lookup)?;
    let nr = eval(args.get(1)?, lookup)?;
    let (ty, nr) = (u32::try_from(ty).ok()?, u32::try_from(nr).ok()?);
    (ty < 256 && nr < 256).then_some((dir, ty, nr))
}

fn scan_ioctls(tree: &Path, scan: &mut ObjectScan) -> Result<()> {
    let mut headers = headers_under(tree, "include/uapi")?;
    // The architectures wl runs on use the generic encoding and asm-generic's numbers.
    headers.retain(|(h, _)| !h.starts_with("include/uapi/asm/"));
    let global: HashMap<String, String> = headers
        .iter()
        .rev()
        .flat_map(|(_, d)| d.iter().cloned())
        .collect();
    for (header, defines) in &headers {
        let local: HashMap<&str, &str> = defines
            .iter()
            .rev()
            .map(|(n, b)| (n.as_str(), b.as_str()))
            .collect();
        let lookup = |n: &str| {
            local
                .get(n)
                .map(|b| b.to_string())
                .or_else(|| global.get(n).cloned())
        };
        let plain = PLAIN_IOCTL_HEADERS.contains(&header.as_str());
        for (name, body) in defines {
            if let Some((dir, ty, nr)) = ioctl_triple(body, &lookup, 0) {
                scan.ioctl_encoded.push(Ioctl {
                    key: dir << 16 | ty << 8 | nr,
                    header: header.clone(),
                    name: name.clone(),
                });
            } else if plain
                && let Some(v) = eval(body, &lookup)
                // Smaller values in these headers are flags (TIOCPKT_DATA), not requests.
                && (0x100..=0xffff_ffff).contains(&v)
            {
                scan.ioctl_plain.push(Ioctl {
                    key: v as u32,
                    header: header.clone(),
                    name: name.clone(),
                });
            }
        }
    }
    for list in [&mut scan.ioctl_plain, &mut scan.ioctl_encoded] {
        // By number, then the header order: the first of equals is the one shown.
        list.sort_by(|a, b| (a.key, &a.header).cmp(&(b.key, &b.header)));
        list.dedup_by(|a, b| a.key == b.key && a.name == b.name);
    }
    Ok(())
}

/// A header's defines, resolved, first name per value kept.
fn header_values(tree: &Path, headers: &[&str]) -> Result<Vec<(String, i64)>> {
    let mut defines = Vec::new();
    for h in headers {
        defines.extend(parse_defines(&read_text(tree, h)?));
    }
    Ok(define_values(&defines))
}

fn by_value(
    named: impl IntoIterator<Item = (String, i64)>,
    keep: impl Fn(&str) -> bool,
) -> Vec<(u32, String)> {
    let mut out: BTreeMap<u32, String> = BTreeMap::new();
    for (n, v) in named {
        if let (true, Ok(v)) = (keep(&n), u32::try_from(v)) {
            out.entry(v).or_insert(n);
        }
    }
    out.into_iter().collect()
}

fn scan_commands(tree: &Path, scan: &mut ObjectScan) -> Result<()> {
    for &(set, file, start, expr, headers) in SWITCH_COMMANDS {
        let text = read_text(tree, file)?;
        let labels = switch_cases(&text, start, expr);
        let values: HashMap<String, i64> = header_values(tree, headers)?.into_iter().collect();
        let mut named = Vec::new();
        for l in labels {
            if let Some(&v) = values.get(&l) {
                named.push((l, v));
            }
        }
        let values = by_value(named, |_| true);
        match scan.commands.iter_mut().find(|c| c.set == set) {
            Some(c) => {
                for v in values {
                    if c.values.iter().all(|(n, _)| *n != v.0) {
                        c.values.push(v);
                    }
                }
                c.values.sort();
            }
            None => scan.commands.push(CommandSet {
                set: set.to_string(),
                header: headers[0].to_string(),
                values,
            }),
        }
    }
    // bpf(2)'s commands are a plain enum; aliases (BPF_PROG_RUN) follow their originals.
    let bpf_h = "include/uapi/linux/bpf.h";
    let bpf = read_text(tree, bpf_h)?;
    let cmds = enum_values(&bpf, &|_| None)
        .into_iter()
        .find(|e| e.first().is_some_and(|(n, _)| n == "BPF_MAP_CREATE"))
        .unwrap_or_default();
    scan.commands.push(CommandSet {
        set: "bpf".into(),
        header: bpf_h.into(),
        values: by_value(cmds, |n| !n.starts_with("__")),
    });
    // Socket option levels: SOL_SOCKET, and the protocol levels of include/linux/socket.h.
    let mut levels = header_values(tree, &["include/uapi/asm-generic/socket.h"])?;
    levels.retain(|(n, _)| n == "SOL_SOCKET");
    levels.extend(header_values(tree, &["include/linux/socket.h"])?);
    scan.commands.push(CommandSet {
        set: "sol".into(),
        header: "include/linux/socket.h".into(),
        values: by_value(levels, |n| n.starts_with("SOL_")),
    });
    scan.commands.sort_by(|a, b| a.set.cmp(&b.set));
    Ok(())
}

fn scan_sockets(tree: &Path, w: &Walked, scan: &mut ObjectScan) -> Result<()> {
    let socket_h = header_values(tree, &["include/linux/socket.h"])?;
    let af: HashMap<&str, i64> = socket_h.iter().map(|(n, v)| (n.as_str(), *v)).collect();
    let mut families: BTreeMap<u32, (String, Vec<String>)> = BTreeMap::new();
    for (n, v) in by_value(socket_h.clone(), |n| n.starts_with("AF_") && n != "AF_MAX") {
        families.insert(n, (v, Vec::new()));
    }
    for (file, inits) in &w.inits {
        for i in &inits[4] {
            let fam = i
                .members
                .iter()
                .find(|(k, _)| k == "family")
                .map(|(_, v)| v.trim());
            if let Some(v) = fam.and_then(|f| af.get(f))
                && let Some((_, files)) = families.get_mut(&(*v as u32))
            {
                files.push(file.clone());
            }
        }
    }
    scan.families = families
        .into_iter()
        .map(|(v, (name, mut files))| {
            // Bluetooth registers one family from several files; af_bluetooth.c is its core.
            files.sort_by_key(|f| {
                (
                    !f.rsplit('/').next().unwrap_or("").starts_with("af_"),
                    f.len(),
                    f.clone(),
                )
            });
            (v, name, files.into_iter().next())
        })
        .collect();

    let net_h = read_text(tree, "include/linux/net.h")?;
    scan.sock_types = enum_values(&net_h, &|_| None)
        .into_iter()
        .find(|e| e.iter().any(|(n, _)| n == "SOCK_STREAM"))
        .map(|e| by_value(e, |n| n.starts_with("SOCK_")))
        .unwrap_or_default();
    let in_h = read_text(tree, "include/uapi/linux/in.h")?;
    scan.ip_protocols = enum_values(&in_h, &|_| None)
        .into_iter()
        .find(|e| e.iter().any(|(n, _)| n == "IPPROTO_TCP"))
        .map(|e| by_value(e, |n| n.starts_with("IPPROTO_") && n != "IPPROTO_MAX"))
        .unwrap_or_default();
    // Netlink's protocols come first in its header, before the option names that reuse
    // the same small numbers.
    scan.netlink_protocols = by_value(
        header_values(tree, &["include/uapi/linux/netlink.h"])?,
        |n| n.starts_with("NETLINK_"),
    )
    .into_iter()
    .filter(|(v, _)| *v < 32)
    .collect();

    // struct proto variables: name → (file, members).
    let mut protos: HashMap<&str, (&str, &Initialiser)> = HashMap::new();
    for (file, inits) in &w.inits {
        for i in &inits[2] {
            protos.entry(i.var.as_str()).or_insert((file.as_str(), i));
        }
    }
    let proto_nr: HashMap<&str, i64> = scan
        .ip_protocols
        .iter()
        .map(|(v, n)| (n.as_str(), i64::from(*v)))
        .collect();
    let types: HashMap<&str, u32> = scan
        .sock_types
        .iter()
        .map(|(v, n)| (n.as_str(), *v))
        .collect();
    let af_inet = af.get("AF_INET").copied().unwrap_or(2) as u32;
    let af_inet6 = af.get("AF_INET6").copied().unwrap_or(10) as u32;
    for (file, inits) in &w.inits {
        for i in &inits[3] {
            let get = |k: &str| {
                i.members
                    .iter()
                    .find(|(m, _)| m == k)
                    .map(|(_, v)| v.trim())
            };
            let (Some(ty), Some(proto), Some(prot)) = (get("type"), get("protocol"), get("prot"))
            else {
                continue;
            };
            let (Some(&ty), Some(&proto)) = (types.get(ty), proto_nr.get(proto)) else {
                continue;
            };
            let Some(&(pfile, p)) = function_value(prot).and_then(|v| protos.get(v)) else {
                continue;
            };
            let pget = |k: &str| {
                p.members
                    .iter()
                    .find(|(m, _)| m == k)
                    .map(|(_, v)| v.trim())
            };
            let Some(name) = pget("name").map(|n| n.trim_matches('"').to_string()) else {
                continue;
            };
            let source = pget("sendmsg")
                .or_else(|| pget("recvmsg"))
                .and_then(function_value)
                .map_or_else(|| pfile.to_string(), |f| definition_file(w, pfile, f));
            let ops = PROTO_MEMBERS
                .iter()
                .filter_map(|m| Some(format!("{m}={}", function_value(pget(m)?)?)))
                .collect::<Vec<_>>()
                .join(" ");
            let family = if w.inet6_protosw.contains(&i.var) || file.contains("ipv6") {
                af_inet6
            } else {
                af_inet
            };
            scan.protocols.push(Protocol {
                family,
                sock_type: ty,
                protocol: proto as u32,
                name,
                source,
                ops,
            });
        }
    }
    scan.protocols
        .sort_by_key(|p| (p.family, p.sock_type, p.protocol));
    scan.protocols
        .dedup_by_key(|p| (p.family, p.sock_type, p.protocol));
    Ok(())
}

/// The object and command tables of the tree at `tree`, from what `walker` saw of its
/// C files and from its headers.
pub fn scan_objects(tree: &Path, walker: Walker) -> Result<ObjectScan> {
    let w = walker.w;
    let mut scan = ObjectScan::default();
    let mut fops_release: HashMap<(&str, &str), &str> = HashMap::new();
    for (file, inits) in &w.inits {
        for (k, members) in [
            (0, FILE_OPS_MEMBERS),
            (1, PROTO_OPS_MEMBERS),
            (2, PROTO_MEMBERS),
        ] {
            for i in &inits[k] {
                for (m, v) in &i.members {
                    if !members.contains(&m.as_str()) {
                        continue;
                    }
                    let Some(f) = function_value(v) else { continue };
                    let def = definition_file(&w, file, f);
                    scan.handlers.entry(def).or_default().insert(f.to_string());
                    if k == 0 && m == "release" {
                        fops_release.insert((file.as_str(), i.var.as_str()), f);
                    }
                }
            }
        }
    }
    let mut anon: BTreeMap<String, String> = BTreeMap::new();
    for (name, fops, file) in &w.anon_names {
        // The fops is usually the file's own; else any file's of that name.
        let release = fops_release
            .get(&(file.as_str(), fops.as_str()))
            .or_else(|| {
                fops_release
                    .iter()
                    .find(|((_, v), _)| v == fops)
                    .map(|(_, r)| r)
            });
        if let Some(r) = release {
            anon.entry(r.to_string()).or_insert_with(|| name.clone());
        }
    }
    scan.anon_types = anon.into_iter().collect();

    let magics = header_values(tree, &["include/uapi/linux/magic.h"])?;
    let mut by_magic: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for (n, v) in magics {
        if let Ok(v) = u32::try_from(v) {
            by_magic.entry(v).or_default().push(n);
        }
    }
    for (v, names) in by_magic {
        let source = w
            .magic_uses
            .iter()
            .filter(|(m, f, _)| names.contains(m) && !f.starts_with("security/"))
            // Of aliases (EXT2/EXT3/EXT4_SUPER_MAGIC) the last defined is the newest
            // driver, the one that serves them all.
            .min_by_key(|(m, f, rank)| {
                let alias = names.iter().rev().position(|n| n == m);
                (*rank, alias, !f.starts_with("fs/"), f.clone())
            })
            .map(|(_, f, _)| fs_source(f));
        scan.fs_magics.push((v, names, source));
    }

    scan_sockets(tree, &w, &mut scan)?;
    scan_ioctls(tree, &mut scan)?;
    let requests: BTreeSet<&str> = scan
        .ioctl_plain
        .iter()
        .chain(&scan.ioctl_encoded)
        .map(|i| i.name.as_str())
        .collect();
    let mut cases: Vec<(String, String, String)> = w
        .cases
        .iter()
        .filter(|(name, _, _)| requests.contains(name.as_str()))
        .map(|(name, file, function)| (name.clone(), function.clone(), file.clone()))
        .collect();
    cases.sort();
    cases.dedup();
    scan.ioctl_cases = cases;
    scan_commands(tree, &mut scan)?;
    Ok(scan)
}

/// The function whose body holds byte `at` of `text`, in the kernel's style: its
/// definition starts at the beginning of a line and its body's `{` opens a line of
/// its own. None outside a function, or where the style differs.
fn enclosing_function(text: &str, at: usize) -> Option<String> {
    let before = &text[..at];
    let open = before.rfind("\n{")?;
    // A `}` at a line's start after the `{` closes that body: `at` is not inside it.
    if before[open..].contains("\n}") {
        return None;
    }
    let header_start = std::iter::once(0)
        .chain(before[..open].match_indices('\n').map(|(i, _)| i + 1))
        .rfind(|&i| {
            before[i..]
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        })?;
    let header = &before[header_start..open];
    let name_end = header.find('(')?;
    let name = header[..name_end]
        .trim_end()
        .rsplit(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .next()?;
    if name.is_empty() || name.chars().next()?.is_ascii_digit() {
        return None;
    }
    // A syscall defined through SYSCALL_DEFINEn(ioctl, ...) is sys_ioctl; a function
    // made by another macro has no name to give.
    let macro_arg = || {
        header[name_end + 1..]
            .split([',', ')'])
            .next()
            .map(str::trim)
            .filter(|a| !a.is_empty())
    };
    if let Some(n) = name.strip_prefix("SYSCALL_DEFINE") {
        return n
            .parse::<u8>()
            .ok()
            .and(macro_arg())
            .map(|a| format!("sys_{a}"));
    }
    if let Some(n) = name.strip_prefix("COMPAT_SYSCALL_DEFINE") {
        return n
            .parse::<u8>()
            .ok()
            .and(macro_arg())
            .map(|a| format!("compat_sys_{a}"));
    }
    if name
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    {
        return None;
    }
    Some(name.to_owned())
}

impl ObjectScan {
    /// Every path the tables refer to, for their MAINTAINERS sections.
    pub fn paths(&self) -> BTreeSet<String> {
        let mut p: BTreeSet<String> = self.handlers.keys().cloned().collect();
        p.extend(self.fs_magics.iter().filter_map(|(_, _, s)| s.clone()));
        p.extend(self.families.iter().filter_map(|(_, _, s)| s.clone()));
        p.extend(self.protocols.iter().map(|x| x.source.clone()));
        p.extend(self.ioctl_plain.iter().map(|i| i.header.clone()));
        p.extend(self.ioctl_encoded.iter().map(|i| i.header.clone()));
        p.extend(self.commands.iter().map(|c| c.header.clone()));
        p.extend(self.ioctl_cases.iter().map(|(_, _, file)| file.clone()));
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defines(text: &str) -> HashMap<String, i64> {
        define_values(&parse_defines(&strip_comments(text)))
            .into_iter()
            .collect()
    }

    #[test]
    fn evaluates_define_expressions() {
        let d = defines(
            "#define F_LINUX_SPECIFIC_BASE\t1024\n#define F_SETLEASE (F_LINUX_SPECIFIC_BASE + 0)\n\
             #define F_GETLEASE\t(F_LINUX_SPECIFIC_BASE+1) /* c */\n#define A (1U << 3)\n\
             #define B ((__u32)0x10 | A)\n#define C (~0UL)\n#define SELF SELF\n#define FN(x) x\n\
             #define D 'T'\n#define E (D << 8 | 0x13)\n#define O 010\n#define NEG (-22)\n\
             #define MUL (3 * 4 - 10 / 2 % 4)\n#define LONG \\\n   77\n#define S sizeof(int)\n",
        );
        assert_eq!(d["F_SETLEASE"], 1024);
        assert_eq!(d["F_GETLEASE"], 1025);
        assert_eq!(d["A"], 8);
        assert_eq!(d["B"], 0x18);
        assert_eq!(d["C"], -1);
        assert_eq!(d["E"], 0x5413);
        assert_eq!(d["O"], 8);
        assert_eq!(d["NEG"], -22);
        assert_eq!(d["MUL"], 11);
        assert_eq!(d["LONG"], 77);
        assert!(!d.contains_key("SELF"), "a self-reference has no value");
        assert!(!d.contains_key("FN"), "function-like macros are not values");
        assert!(!d.contains_key("S"));
        assert_eq!(eval("1 +", &|_| None), None);
        assert_eq!(eval("(1", &|_| None), None);
        assert_eq!(eval("1 << 99", &|_| None), None);
        assert_eq!(eval("5 / 0", &|_| None), None);
        assert_eq!(eval("'\\x41' + '\\0'", &|_| None), Some(0x41));
    }

    #[test]
    fn numbers_enums_with_aliases_and_skips_defines_inside() {
        let t = strip_comments(
            "enum bpf_cmd {\n\tBPF_MAP_CREATE,\n\tBPF_MAP_LOOKUP_ELEM,\n\tBPF_PROG_TEST_RUN = 10,\n\
             \tBPF_PROG_RUN = BPF_PROG_TEST_RUN,\n\tBPF_NEXT, /* 11 */\n\t__MAX_BPF_CMD,\n};\n\
             enum {\n  IPPROTO_IP = 0,\n#define IPPROTO_IP IPPROTO_IP\n  IPPROTO_ICMP = 1,\n  IPPROTO_TCP = 6,\n};\n\
             int enumerate(void) { return 0; }\n",
        );
        let e = enum_values(&t, &|_| None);
        assert_eq!(e.len(), 2);
        let v: Vec<(&str, i64)> = e[0].iter().map(|(n, v)| (n.as_str(), *v)).collect();
        assert_eq!(
            v,
            [
                ("BPF_MAP_CREATE", 0),
                ("BPF_MAP_LOOKUP_ELEM", 1),
                ("BPF_PROG_TEST_RUN", 10),
                ("BPF_PROG_RUN", 10),
                ("BPF_NEXT", 11),
                ("__MAX_BPF_CMD", 12)
            ]
        );
        assert_eq!(e[1][2], ("IPPROTO_TCP".to_string(), 6));
    }

    #[test]
    fn takes_only_the_switch_s_own_case_labels() {
        let t = strip_comments(
            "static long do_fcntl(int fd, unsigned int cmd);\n\
             static long do_fcntl(int fd, unsigned int cmd,\n\t\tunsigned long arg)\n{\n\
             \tswitch (cmd) {\n\tcase F_DUPFD:\n\tcase F_GETFD: {\n\t\tswitch (arg) { case NESTED: break; }\n\
             \t}\n\tcase F_SETLEASE: /* case F_COMMENT: */\n\t\tbreak;\n\tdefault: break;\n\t}\n\
             \tswitch (other) {\n\tcase OTHER:\n\t}\n}\nvoid later(void) { switch (cmd) { case LATER: } }\n",
        );
        assert_eq!(
            switch_cases(&t, "do_fcntl(", "cmd"),
            ["F_DUPFD", "F_GETFD", "F_SETLEASE"]
        );
        assert!(switch_cases(&t, "missing(", "cmd").is_empty());
    }

    #[test]
    fn reads_initialisers_and_definitions() {
        let t = strip_comments(
            "static ssize_t\npipe_read(struct kiocb *iocb, struct iov_iter *to)\n{\n}\n\
             long pipe_ioctl(struct file *f, unsigned int cmd, unsigned long arg) __releases(x)\n{\n}\n\
             int declared(int x);\nstatic const struct file_operations pipefifo_fops = {\n\
             \t.open\t\t= fifo_open,\n\t.read_iter\t= pipe_read,\n\t.unlocked_ioctl\t= pipe_ioctl,\n\
             \t.llseek = NULL,\n#ifdef CONFIG_PROC_FS\n\t.show_fdinfo = pipe_show,\n#endif\n\t.poll = (void *)pipe_poll,\n};\n\
             struct proto_ops not_proto;\nstruct proto tcp_prot = { .name = \"TCP\", .sendmsg = tcp_sendmsg, };\n\
             static struct inet_protosw inetsw_array[] =\n{\n\t{ .type = SOCK_STREAM, .prot = &tcp_prot, },\n\
             \t{ .type = SOCK_DGRAM, },\n};\n",
        );
        assert_eq!(
            function_definitions(&t),
            [
                ("pipe_read".to_string(), true),
                ("pipe_ioctl".to_string(), false)
            ]
        );
        let f = initialisers(&t, "file_operations");
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].var, "pipefifo_fops");
        let funcs: Vec<(&str, Option<&str>)> = f[0]
            .members
            .iter()
            .map(|(k, v)| (k.as_str(), function_value(v)))
            .collect();
        assert_eq!(
            funcs,
            [
                ("open", Some("fifo_open")),
                ("read_iter", Some("pipe_read")),
                ("unlocked_ioctl", Some("pipe_ioctl")),
                ("llseek", None),
                ("show_fdinfo", Some("pipe_show")),
                ("poll", Some("pipe_poll"))
            ]
        );
        let p = initialisers(&t, "proto");
        assert_eq!(p.len(), 1, "struct proto_ops is not struct proto");
        assert_eq!(p[0].members[0], ("name".to_string(), "\"TCP\"".to_string()));
        let sw = initialisers(&t, "inet_protosw");
        assert_eq!(sw.len(), 2);
        assert_eq!(sw[0].members[1].1, "&tcp_prot");
    }

    #[test]
    fn fd_argument_by_parameter_name() {
        let p = |names: &[(&str, &str)]| {
            fd_arg(
                &names
                    .iter()
                    .map(|(t, n)| (t.to_string(), n.to_string()))
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(
            p(&[("unsigned int", "fd"), ("char __user *", "buf")]),
            Some(0)
        );
        assert_eq!(
            p(&[("int", "dfd"), ("const char __user *", "filename")]),
            None,
            "a directory fd is not the object"
        );
        assert_eq!(
            p(&[
                ("unsigned long", "addr"),
                ("unsigned long", "len"),
                ("unsigned long", "prot"),
                ("unsigned long", "flags"),
                ("unsigned long", "fd"),
                ("unsigned long", "off")
            ]),
            Some(4)
        );
        assert_eq!(p(&[("int", "out_fd"), ("int", "in_fd")]), Some(0));
        assert_eq!(p(&[("int __user *", "fd")]), None, "a pointer is not an fd");
    }

    #[test]
    fn comments_go_strings_stay() {
        assert_eq!(
            strip_comments("a /* b\nc */ d // e\n\"/* s */\" '/'"),
            "a     \n     d     \n\"/* s */\" '/'"
        );
        // Unterminated constructs end the text without panicking.
        assert_eq!(strip_comments("x /* y"), "x     ");
        assert_eq!(strip_comments("\"abc"), "\"abc");
    }

    #[test]
    fn a_case_is_found_in_its_function() {
        let text = "static int helper(void)\n{\n\treturn 0;\n}\n\n\
                    int dev_ioctl(struct net *net, unsigned int cmd,\n\t      void __user *data)\n{\n\
                    \tswitch (cmd) {\n\tcase SIOCGIFCONF:\n\t\treturn 1;\n\t}\n}\n";
        let at = text.find("case SIOCGIFCONF").unwrap();
        assert_eq!(enclosing_function(text, at).as_deref(), Some("dev_ioctl"));
        // Functions a macro defines: a syscall by its entry point, others not at all.
        let compat = "COMPAT_SYSCALL_DEFINE3(ioctl, unsigned int, fd, unsigned int, cmd,\n\
                      \t\t       compat_ulong_t, arg)\n{\n\tswitch (cmd) {\n\tcase FICLONE:\n";
        let at = compat.find("case FICLONE").unwrap();
        assert_eq!(
            enclosing_function(compat, at).as_deref(),
            Some("compat_sys_ioctl")
        );
        let other = "DEFINE_HANDLER(foo)\n{\n\tcase X:\n";
        assert_eq!(enclosing_function(other, other.find("case").unwrap()), None);
        // Outside any body: after the helper's closing brace.
        let between = text.find("\n\nint dev_ioctl").unwrap();
        assert_eq!(enclosing_function(text, between), None);
        let mut w = Walker::new();
        w.visit("net/core/dev_ioctl.c", text);
        assert_eq!(
            w.w.cases,
            [(
                "SIOCGIFCONF".to_string(),
                "net/core/dev_ioctl.c".to_string(),
                "dev_ioctl".to_string()
            )]
        );
    }

    #[test]
    fn ioctl_macros_decode_through_aliases() {
        let map: HashMap<&str, &str> = [
            ("BTRFS_IOCTL_MAGIC", "0x94"),
            ("TCGETS2", "_IOR('T', 0x2A, struct termios2)"),
        ]
        .into_iter()
        .collect();
        let lookup = |n: &str| map.get(n).map(|s| s.to_string());
        assert_eq!(
            ioctl_triple("_IOR('T', 0x2A, struct termios2)", &lookup, 0),
            Some((2, b'T' as u32, 0x2a))
        );
        assert_eq!(
            ioctl_triple("_IOWR(BTRFS_IOCTL_MAGIC, 5, struct x)", &lookup, 0),
            Some((3, 0x94, 5))
        );
        assert_eq!(
            ioctl_triple("_IO(0xAE, 0x01)", &lookup, 0),
            Some((0, 0xae, 1))
        );
        assert_eq!(
            ioctl_triple("(_IOW('f', 2, long))", &lookup, 0),
            Some((1, b'f' as u32, 2))
        );
        assert_eq!(ioctl_triple("_IOR('T', 0x2A, x) + 1", &lookup, 0), None);
        assert_eq!(ioctl_triple("0x5401", &lookup, 0), None);
    }
}
