//! A request on an `llm` route whose body changes before it goes to the provider
//! ([`Conclusion::outgoing`]): prompts and tool results lose what the route's `mask` section
//! names, so it does not leave the mesh, and the text items standing where denied calls were
//! lose their minted ids. The body is whole in hand (it was read to be decided) and its
//! `content-length` went at the headers; the record waits to say what was masked.
//!
//! [`Conclusion::outgoing`]: crate::engine::Conclusion::outgoing

use serde_json::{Map, Value};

use super::host::{self, BufferType};
use super::http::with_cache;
use super::Shared;
use crate::audit::add_mask;
use crate::engine::{self, Masking, Outgoing, Unmaskable};
use crate::llm::request::restore_replacements;
use crate::mask::response::MaskSummary;
use crate::mask::stream::Streamer;
use crate::reply::HttpReply;

/// An allowed request whose body changes on its way out.
pub(super) struct OutgoingBody {
    pub route: usize,
    pub plan: Outgoing,
    pub record: Option<Map<String, Value>>,
    pub request_id: Option<String>,
    pub content_type: Option<String>,
    /// The decision's message: why a body that goes unread was let go.
    pub decided: String,
}

/// What of the request's body the filter holds.
pub(super) enum Sent<'a> {
    /// The request has no body.
    Nothing,
    /// The whole body.
    Body(&'a [u8]),
    /// The body goes on unread (over the limit, or encoded, and allowed so by the policy).
    Unread,
}

impl OutgoingBody {
    /// Masks what goes and records it; the reply that goes instead when the body cannot be
    /// masked and the policy withholds it.
    pub fn carry_out(self, shared: &Shared, sent: Sent<'_>) -> Option<HttpReply> {
        let mut summary = MaskSummary::default();
        let masked = match (sent, self.plan.masking) {
            (Sent::Body(bytes), masking) => {
                let restored = self.plan.restore_replacements.then(|| restore_replacements(bytes)).flatten();
                let body = restored.as_deref().unwrap_or(bytes);
                let masked = match masking {
                    Some(masking) => self.mask(shared, masking, body, &mut summary),
                    None => Ok((String::new(), None)),
                };
                masked.map(|(note, out)| {
                    if let Some(out) = out.or(restored) {
                        host::set_buffer(BufferType::HttpRequestBody, 0, bytes.len(), &out);
                    }
                    note
                })
            }
            (Sent::Nothing, _) => Ok("no body".to_string()),
            (Sent::Unread, None) => Ok(String::new()),
            (Sent::Unread, Some(_)) => Err(format!("the body goes unread: {}", self.decided)),
        };
        let withheld = match masked {
            Ok(note) => {
                summary.note = Some(note);
                None
            }
            Err(reason) => self.unmaskable(shared, &reason, &mut summary),
        };
        // Only a masked body's record waits here (`Shared::conclude` shipped the others).
        if let Some(mut record) = self.record {
            add_mask(&mut record, &summary);
            shared.ship(record, host::now_nanos());
        }
        withheld
    }

    /// Masks the body (in monitor mode only counts): the note for the record, and the body that
    /// goes instead.
    fn mask(
        &self,
        shared: &Shared,
        masking: Masking,
        bytes: &[u8],
        summary: &mut MaskSummary,
    ) -> Result<(String, Option<Vec<u8>>), String> {
        let Some(mask) = &shared.policy.routes[self.route].mask else { return Ok(("no mask section".into(), None)) };
        let Some(kind) = crate::mask::readable(self.content_type.as_deref()) else {
            return Err("the request body is binary".into());
        };
        let mut streamer = Streamer::new(&mask.masker, kind, std::iter::empty())?;
        let out = with_cache(shared, self.route, mask, |cache| streamer.feed(&mask.masker, cache, bytes, true))?;
        summary.counts.clone_from(&streamer.counts);
        let note = masking.note().unwrap_or("masked on its way to the provider").to_string();
        Ok((note, (masking == Masking::Apply).then_some(out)))
    }

    fn unmaskable(&self, shared: &Shared, reason: &str, summary: &mut MaskSummary) -> Option<HttpReply> {
        let route = &shared.policy.routes[self.route];
        match engine::unmaskable_outgoing(&shared.policy, route, reason, self.request_id.as_deref())? {
            Unmaskable::Pass { note } => {
                summary.note = Some(note);
                None
            }
            Unmaskable::Withhold { reply, note } => {
                summary.note = Some(note);
                Some(reply)
            }
        }
    }
}
