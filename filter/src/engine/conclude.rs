//! Concluding: one decision carried into everything the host does about it, the same for
//! every channel. The policy features that depend on the host's state (`audit.on_unavailable`,
//! monitor mode, whose responses are masked) are applied here and nowhere else.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::audit::{decision_record, RecordFacts, Site};
use crate::decide::{actor_matches, decide_limit, Action, Limit, Outcome, Reason};
use crate::identity::Actor;
use crate::llm::{Api, ToolCall, Verdict};
use crate::policy::{Effect, MaskRoute, Mode, OnDeny, Payload, Policy, Route};
use crate::reply::{self, HttpReply, Reply};

/// What only the host knows when a decision is carried out.
#[derive(Clone, Copy, Debug)]
pub struct Environment<'a> {
    pub site: Site<'a>,
    /// Audit records cannot be delivered and the buffer holding them is full.
    pub audit_unavailable: bool,
    pub now_nanos: u64,
    /// When the action arrived, for the record's latency.
    pub started_nanos: u64,
}

/// What happens to a masked response's body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Masking {
    /// Values are replaced.
    Apply,
    /// Monitor mode: values are counted for the record, the body is left as it is.
    CountOnly,
}

impl Masking {
    /// What the record says about a body that was counted but not changed.
    pub fn note(self) -> Option<&'static str> {
        match self {
            Masking::Apply => None,
            Masking::CountOnly => Some("monitor mode: counted, not applied"),
        }
    }
}

/// What happens to the response of the concluded request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResponsePlan {
    Untouched,
    /// Masked per the route's `mask` section; the record waits for the response, to say what
    /// was masked ([`crate::audit::add_mask`]).
    Mask(Masking),
    /// A model's answer on an `llm` route: each tool call is decided as it completes
    /// ([`super::evaluate_tool_call`], then [`Conclusion::tool_call_verdict`]), with a record of
    /// its own.
    ToolCalls {
        api: Api,
        delivery: Delivery,
    },
}

/// How a model's answer reaches the agent on an `llm` route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Monitor mode: the calls are decided and recorded, the answer passes as it comes.
    Unchanged,
    /// `on_deny: rewrite`: the answer flows, each denied call replaced where it was by the
    /// text of [`Conclusion::tool_call_verdict`].
    Rewritten,
    /// `on_deny: error`: the answer's headers and body wait until every call is decided; a
    /// denied call's conclusion answers instead (the provider's 403), or the answer goes whole.
    WholeOrRefused,
}

/// The decision as Envoy's filter state `wasm.guardrails_decision` shows it (and the
/// `guardrails` command reads it back).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterState {
    pub effect: Effect,
    pub enforced: bool,
    pub route: String,
    pub rule: Option<String>,
    pub would_deny: Option<String>,
}

/// A counter the conclusion moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Count {
    Allow,
    Deny,
    WouldDeny,
    Unparsable,
    Oversize,
    EncodedBody,
}

/// Everything the host carries out for one decision.
#[derive(Clone, Debug)]
pub struct Conclusion {
    /// The final decision and the action it was made on.
    pub outcome: Outcome,
    /// The audit record (none without an `audit` section).
    pub record: Option<Map<String, Value>>,
    /// What the client gets instead, when the action is denied.
    pub reply: Option<Reply>,
    /// [`FilterState`] as JSON.
    pub filter_state: String,
    pub response: ResponsePlan,
    /// The request's body is masked before it goes upstream (an `llm` route's `mask` section:
    /// prompts and tool results leave the mesh masked); the record waits for it.
    pub outgoing: Option<Masking>,
}

/// Whether `route` masks (or, in monitor mode, counts) what `actor` gets back: then, and only
/// then, the request asks the upstream for an uncompressed response.
pub fn masks_responses_of(route: &Route, actor: &Actor) -> bool {
    route.mask.as_ref().is_some_and(|mask| actor_matches(mask.actor.as_ref(), actor))
}

/// Whether what `actor` sends on `route` is masked before it goes upstream, or in monitor mode
/// counted: an `llm` route's `mask` section is for what leaves the mesh, the prompts and tool
/// results sent to the provider.
pub fn outgoing_masking(policy: &Policy, route: &Route, actor: &Actor) -> Option<Masking> {
    let masks = matches!(route.payload, Payload::Llm(_)) && masks_responses_of(route, actor);
    masks.then_some(if policy.mode == Mode::Monitor { Masking::CountOnly } else { Masking::Apply })
}

/// Whether the filter reads what `actor` gets back on `route` (masks it, or decides a model's
/// tool calls in it): then the request asks the upstream for an uncompressed response.
pub fn reads_responses_of(route: &Route, actor: &Actor) -> bool {
    matches!(route.payload, Payload::Llm(_)) || masks_responses_of(route, actor)
}

/// Concludes a decision on `route` for `actor`, in the host's `environment`.
pub fn conclude(
    policy: &Policy,
    route: &Route,
    actor: &Actor,
    mut outcome: Outcome,
    environment: &Environment<'_>,
) -> Conclusion {
    // No action without an audit trail, when the policy says so.
    if environment.audit_unavailable && !outcome.decision.is_deny() {
        let detail = "the audit trail cannot be delivered and its buffer is full".to_string();
        let limited = decide_limit(policy, Limit::AuditUnavailable, detail);
        if limited.is_deny() {
            outcome.decision = limited;
        }
    }
    let decision = &outcome.decision;
    let response = response_plan(policy, route, actor, &outcome, environment.site);
    let record = policy.audit.is_some().then(|| {
        decision_record(&RecordFacts {
            policy,
            route: &route.name,
            actor,
            site: environment.site,
            outcome: &outcome,
            now_nanos: environment.now_nanos,
            latency_us: environment.now_nanos.saturating_sub(environment.started_nanos) / 1_000,
        })
    });
    let reply = decision.is_deny().then(|| match environment.site {
        Site::Http(request) => Reply::Http(reply::http_denial(&route.payload, &outcome, request.header("x-request-id"))),
        Site::Db { .. } => Reply::Wire { message: reply::wire::denied_message(decision) },
    });
    let state = FilterState {
        effect: decision.effect,
        enforced: decision.enforced,
        route: route.name.clone(),
        rule: decision.rule.clone(),
        would_deny: decision.would_deny.as_ref().map(|w| w.rule.clone()),
    };
    let filter_state = serde_json::to_string(&state).unwrap_or_default();
    let outgoing = outgoing_masking(policy, route, actor).filter(|_| !decision.is_deny());
    Conclusion { outcome, record, reply, filter_state, response, outgoing }
}

fn response_plan(policy: &Policy, route: &Route, actor: &Actor, outcome: &Outcome, site: Site<'_>) -> ResponsePlan {
    let monitor = policy.mode == Mode::Monitor;
    let api = match (&route.payload, site) {
        (Payload::Llm(llm), Site::Http(request)) => Api::at(llm.provider, request.path()).map(|api| (api, llm.on_deny)),
        _ => None,
    };
    match api {
        _ if outcome.decision.is_deny() => ResponsePlan::Untouched,
        Some((api, on_deny)) => {
            let delivery = match on_deny {
                _ if monitor => Delivery::Unchanged,
                OnDeny::Rewrite => Delivery::Rewritten,
                OnDeny::Error => Delivery::WholeOrRefused,
            };
            ResponsePlan::ToolCalls { api, delivery }
        }
        None if masks_responses_of(route, actor) => ResponsePlan::Mask(if monitor { Masking::CountOnly } else { Masking::Apply }),
        None => ResponsePlan::Untouched,
    }
}

impl Conclusion {
    /// What becomes of the tool call this conclusion decided: an enforced deny replaces it with
    /// the text the agent reads instead ([`reply::llm::refusal`]).
    pub fn tool_call_verdict(&self, call: &ToolCall) -> Verdict {
        match &self.reply {
            Some(_) => Verdict::Replace(reply::llm::refusal(&self.outcome.decision, call)),
            None => Verdict::Release,
        }
    }

    /// A denial on an MCP route made before any message was read (the body is over the limit,
    /// encoded, or not JSON-RPC): its JSON-RPC error answers no request, and an MCP client
    /// whose call goes unanswered waits or gives up its session. The host reads the request's
    /// id from the body as it discards it ([`crate::mcp::IdScan`]) and sends
    /// [`reply::mcp::answering`] it.
    pub fn awaits_request_id(&self) -> bool {
        matches!(&self.outcome.action, Action::Mcp { calls, .. } if calls.is_empty()) && self.reply.is_some()
    }

    /// The counters this conclusion moves, one each.
    pub fn counts(&self) -> impl Iterator<Item = Count> {
        let decision = &self.outcome.decision;
        let effect = if decision.is_deny() { Count::Deny } else { Count::Allow };
        let would = decision.would_deny.as_ref().map(|_| Count::WouldDeny);
        let unparsed = self.outcome.action.statements().iter().any(|s| s.unparsed().is_some());
        let limit = match decision.reason {
            Reason::Limit(Limit::Unparsable) => Some(Count::Unparsable),
            _ if unparsed => Some(Count::Unparsable),
            Reason::Limit(Limit::Oversize) => Some(Count::Oversize),
            Reason::Limit(Limit::EncodedBody) => Some(Count::EncodedBody),
            Reason::Limit(Limit::AuditUnavailable | Limit::McpHeaders | Limit::AmbiguousRoute)
            | Reason::Rule
            | Reason::RouteDefault => None,
        };
        [Some(effect), would, limit].into_iter().flatten()
    }
}

/// What becomes of a response that cannot be masked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unmaskable {
    /// It passes as it is (`on_unmaskable: allow`, or monitor mode).
    Pass { note: String },
    /// It is replaced by this reply (502 while its headers can still change).
    Withhold { reply: HttpReply, note: String },
}

/// Concludes a request whose body cannot be masked before it goes to the provider: as a
/// response would be, but withheld in the provider's own error format (403: SDKs do not retry it).
pub fn unmaskable_outgoing(policy: &Policy, route: &Route, reason: &str, request_id: Option<&str>) -> Option<Unmaskable> {
    let (Payload::Llm(llm), Some(mask)) = (&route.payload, &route.mask) else { return None };
    Some(match unmaskable(policy, mask, reason, request_id) {
        Unmaskable::Withhold { note, .. } => {
            let reply =
                reply::llm::error(llm.provider, &format!("the request cannot be masked: {reason}"), Some("mask.on_unmaskable"));
            Unmaskable::Withhold { reply, note }
        }
        pass => pass,
    })
}

/// Concludes a response that cannot be masked, per `mask.on_unmaskable` and the policy's mode.
pub fn unmaskable(policy: &Policy, mask: &MaskRoute, reason: &str, request_id: Option<&str>) -> Unmaskable {
    if mask.on_unmaskable == Effect::Allow || policy.mode == Mode::Monitor {
        Unmaskable::Pass { note: format!("passed unmasked: {reason}") }
    } else {
        Unmaskable::Withhold { reply: reply::http::unmaskable(reason, request_id), note: format!("withheld: {reason}") }
    }
}
