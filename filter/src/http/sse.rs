//! Server-sent events framed as the WHATWG HTML standard reads them ("Interpreting an event
//! stream", html.spec.whatwg.org/multipage/server-sent-events.html): a line ends at CRLF, LF or
//! CR; an event ends at a blank line; `data:` lines join with LF; a line starting with `:` is a
//! comment; one space after the colon is dropped.
//!
//! The framer keeps only the event still incomplete, so what a filter holds is bounded by the
//! longest event it accepts, and it hands out each complete event's exact bytes: an event passed
//! on goes out as it came.
//!
//! ```
//! use access_guardrails::http::sse::Framer;
//! let mut framer = Framer::new(1024);
//! assert!(framer.push(b"event: ping\nda").unwrap().is_empty());
//! let events = framer.push(b"ta: {}\n\n").unwrap();
//! assert_eq!(events[0].name.as_deref(), Some("ping"));
//! assert_eq!(events[0].data, "{}");
//! assert_eq!(events[0].raw, b"event: ping\ndata: {}\n\n");
//! ```

/// One complete event: its bytes as they came (the blank line included) and its fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub raw: Vec<u8>,
    /// The `event:` field; `None` is the default type, `message`.
    pub name: Option<String>,
    /// The `data:` lines joined with LF. Invalid UTF-8 is replaced (U+FFFD), and `utf8` says so.
    pub data: String,
    pub utf8: bool,
}

impl Event {
    /// Reads the fields of one event's bytes.
    pub fn parse(raw: Vec<u8>) -> Event {
        let utf8 = std::str::from_utf8(&raw).is_ok();
        let text = String::from_utf8_lossy(&raw).into_owned();
        let mut name = None;
        let mut data: Option<String> = None;
        for line in lines(text.trim_start_matches('\u{feff}')) {
            let (field, value) = match line.split_once(':') {
                Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
                None => (line, ""),
            };
            match field {
                "event" => name = Some(value.to_string()),
                "data" => match &mut data {
                    Some(joined) => {
                        joined.push('\n');
                        joined.push_str(value);
                    }
                    None => data = Some(value.to_string()),
                },
                _ => {}
            }
        }
        Event { raw, name, data: data.unwrap_or_default(), utf8 }
    }

    /// An event this filter writes: `event:` (when named) and one `data:` line.
    pub fn write(name: Option<&str>, data: &str, out: &mut Vec<u8>) {
        if let Some(name) = name {
            out.extend_from_slice(b"event: ");
            out.extend_from_slice(name.as_bytes());
            out.push(b'\n');
        }
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(data.as_bytes());
        out.extend_from_slice(b"\n\n");
    }
}

/// The lines of a text, split at CRLF, LF or CR.
fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.split('\n').flat_map(|line| line.split('\r')).filter(|line| !line.is_empty())
}

/// The event held is longer than the framer's bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Oversize(pub usize);

/// Whether a chunk is the stream's last.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Open,
    Last,
}

/// Splits a stream into events, across chunks cut at any byte.
#[derive(Clone, Debug)]
pub struct Framer {
    held: Vec<u8>,
    /// Where the search for the blank line resumes: the start of a line not yet ended.
    line_start: usize,
    limit: usize,
}

impl Framer {
    pub fn new(limit: usize) -> Framer {
        Framer { held: Vec::new(), line_start: 0, limit }
    }

    /// The bytes of the incomplete event.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Adds a chunk; returns the events it completes, in order.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<Event>, Oversize> {
        let mut events = Vec::new();
        self.frame(chunk, Flow::Open, |raw| events.push(Event::parse(raw.to_vec())))?;
        Ok(events)
    }

    /// Adds a chunk and hands each event it completes to `each`, as its bytes, in order, for a
    /// caller that reads the bytes itself. At [`Flow::Last`] the tail goes too, as an event that
    /// was never terminated, and nothing is held (so nothing is over the bound).
    pub fn frame(&mut self, chunk: &[u8], flow: Flow, mut each: impl FnMut(&[u8])) -> Result<(), Oversize> {
        self.held.extend_from_slice(chunk);
        let mut event_start = 0;
        while let Some((line_end, next)) = line_end(&self.held, self.line_start) {
            let blank = line_end == self.line_start;
            self.line_start = next;
            if blank {
                each(&self.held[event_start..next]);
                event_start = next;
            }
        }
        if flow == Flow::Last && event_start < self.held.len() {
            each(&self.held[event_start..]);
            (event_start, self.line_start) = (self.held.len(), self.held.len());
        }
        self.held.drain(..event_start);
        self.line_start -= event_start;
        if self.held.len() > self.limit {
            return Err(Oversize(self.held.len()));
        }
        Ok(())
    }

    /// The end of the stream: what is left, as an event that was never terminated (a client
    /// drops it; the caller decides what that means).
    pub fn finish(&mut self) -> Option<Event> {
        self.line_start = 0;
        (!self.held.is_empty()).then(|| Event::parse(std::mem::take(&mut self.held)))
    }
}

/// The end of the line starting at `from` and where the next one starts. A CR at the very end
/// waits for the next byte: it may be the first half of a CRLF.
fn line_end(buf: &[u8], from: usize) -> Option<(usize, usize)> {
    let at = from + buf.get(from..)?.iter().position(|b| matches!(b, b'\n' | b'\r'))?;
    match (buf[at], buf.get(at + 1)) {
        (b'\r', Some(b'\n')) => Some((at, at + 2)),
        (b'\r', None) => None,
        _ => Some((at, at + 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STREAM: &[u8] =
        b": comment\n\nevent: a\r\ndata: one\r\ndata:two\r\n\r\ndata: {\"x\": \"\xc3\xa9\"}\r\rid: 7\nretry: 1\n\n";

    fn names_and_data(events: &[Event]) -> Vec<(Option<String>, String)> {
        events.iter().map(|e| (e.name.clone(), e.data.clone())).collect()
    }

    #[test]
    fn events_at_every_cut_are_the_same_bytes() {
        let mut whole = Framer::new(1024);
        let expected = whole.push(STREAM).unwrap();
        assert_eq!(
            names_and_data(&expected),
            vec![
                (None, String::new()),
                (Some("a".into()), "one\ntwo".into()),
                (None, "{\"x\": \"é\"}".into()),
                (None, String::new())
            ]
        );
        assert_eq!(expected.iter().flat_map(|e| e.raw.clone()).collect::<Vec<u8>>(), STREAM);
        for cut in 0..=STREAM.len() {
            let mut framer = Framer::new(1024);
            let mut events = framer.push(&STREAM[..cut]).unwrap();
            events.extend(framer.push(&STREAM[cut..]).unwrap());
            assert_eq!(events, expected, "cut at {cut}");
            assert_eq!(framer.held(), 0);
        }
        let mut framer = Framer::new(1024);
        let bytes: Vec<Event> = STREAM.iter().flat_map(|b| framer.push(&[*b]).unwrap()).collect();
        assert_eq!(bytes, expected);
    }

    #[test]
    fn a_cr_at_the_end_waits_for_its_lf() {
        let mut framer = Framer::new(64);
        assert!(framer.push(b"data: x\r\n\r").unwrap().is_empty());
        let events = framer.push(b"\ndata: y\n\n").unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].raw, b"data: x\r\n\r\n");
    }

    #[test]
    fn the_held_event_is_bounded_and_the_tail_is_handed_back() {
        let mut framer = Framer::new(8);
        assert_eq!(framer.push(b"data: 0123456789"), Err(Oversize(16)));
        let mut framer = Framer::new(64);
        framer.push(b"data: done\n\ndata: cut").unwrap();
        let tail = framer.finish().unwrap();
        assert_eq!((tail.raw.as_slice(), tail.data.as_str()), (&b"data: cut"[..], "cut"));
        assert!(framer.finish().is_none());
    }

    #[test]
    fn the_last_chunk_hands_over_the_tail_unbounded() {
        let mut framer = Framer::new(8);
        let mut raws = Vec::new();
        framer.frame(b"data: 1\n\ndata: 0123456789\r", Flow::Last, |raw| raws.push(raw.to_vec())).unwrap();
        assert_eq!(raws, [b"data: 1\n\n".to_vec(), b"data: 0123456789\r".to_vec()]);
        assert_eq!(framer.held(), 0);
        assert!(framer.finish().is_none());
        assert_eq!(framer.frame(b"data: 0123456789", Flow::Open, |_| {}), Err(Oversize(16)));
    }

    #[test]
    fn written_events_read_back() {
        let mut out = Vec::new();
        Event::write(Some("message_delta"), "{\"a\":1}", &mut out);
        let event = Event::parse(out);
        assert_eq!((event.name.as_deref(), event.data.as_str()), (Some("message_delta"), "{\"a\":1}"));
        assert!(!Event::parse(b"data: \xff\n\n".to_vec()).utf8);
    }
}
