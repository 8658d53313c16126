//! What one GraphQL request may cost, so that no query, signed in or anonymous, can make the
//! server read or answer more than a bounded amount.
//!
//! Four fences, from the cheapest to check to the last resort:
//! 1. the document as written: root fields, mutations and aliases are counted as it is parsed;
//! 2. its cost before anything runs: a list costs its `limit` times what each item holds
//!    ([`paged`]), nesting depth and directives per field are capped (async-graphql's limits);
//! 3. while it runs, a [`Budget`] per request: database checkouts, and the bytes of every
//!    row read and value answered, each with a cap;
//! 4. all requests together hold at most [`ALL_ANSWERS_BYTES`] of answers: past that a request
//!    is told to retry (503) rather than the server growing.
//!
//! A refused query is answered `400` with `BAD_USER_INPUT` and a message that names the limit.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextResolve, NextValidation, ResolveInfo,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet};
use async_graphql::{Positioned, ServerError, ServerResult, ValidationResult, Value, Variables};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::rules::error::{bad_input, AppError};
use crate::server::auth::throttle::{LanePass, Throttles};
use std::net::IpAddr;

/// Deepest nesting answered. GraphiQL's introspection query nests `ofType` nine levels under
/// `__schema { types { fields { type` : 14 levels.
pub const MAX_DEPTH: usize = 16;
/// The most a query may cost, each list counting its `limit` times its items' cost: a
/// hundred streams with a dozen fields each cost about 1,300; specklepy's largest query (its
/// stream search: 25 streams, each with 10 branches of 10 commits) about 26,000.
pub const MAX_COMPLEXITY: usize = 50_000;
/// Root fields in one operation, and of them mutations (run one after another).
pub const MAX_ROOT_FIELDS: usize = 20;
pub const MAX_MUTATIONS: usize = 10;
/// Aliased fields in one document.
pub const MAX_ALIASES: usize = 50;
/// Directives on one field.
pub const MAX_DIRECTIVES: usize = 4;
/// Database reads one request may start (specklepy's stream search of 25 streams with 10
/// branches each needs about 560).
pub const MAX_QUERIES: u32 = 2_000;
/// Bytes one request may hold: the rows it reads (commit messages, avatars, objects…), the
/// values it answers, and the answer as sent each count, so an answer of about 10 MiB fits.
pub const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;
/// Bytes all requests may hold at once, counted as above; the room is given back once an
/// answer has been sent. Measured, a request holds about 1.7 times what it counts (the
/// answer is built and serialized in pieces the allocator keeps apart), so this keeps the
/// server near 150 MB whatever the load.
pub const ALL_ANSWERS_BYTES: usize = 32 * 1024 * 1024;

/// Answers take room from the shared pool in chunks; each request's first chunk is free, so
/// small answers never touch the pool.
const CHUNK_BYTES: usize = 256 * 1024;

/// The room all of one server's answers share ([`ALL_ANSWERS_BYTES`]), in chunks.
pub fn answer_pool() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(ALL_ANSWERS_BYTES / CHUNK_BYTES))
}

/// The pool's chunks a request holding `bytes` takes (its first chunk is free).
fn pool_chunks(bytes: usize) -> usize {
    bytes.div_ceil(CHUNK_BYTES).saturating_sub(1)
}

/// The cost of a list field: its items' cost times the items it may hold, plus its own.
pub fn paged(limit: i32, child_complexity: usize) -> usize {
    (limit.clamp(1, 1000) as usize).saturating_mul(child_complexity).saturating_add(1)
}

/// The cost of a list field without a `limit` that holds at most `items`: as many times its
/// items' cost (a user's tokens, up to 500, each with its events, cost what they may read).
pub fn at_most(items: usize, child_complexity: usize) -> usize {
    items.saturating_mul(child_complexity).saturating_add(1)
}

/// The collaborators of a stream a query is costed for: most have a handful; the rows read
/// are charged as they are, whatever their number.
pub const COLLABORATORS_COSTED: usize = 100;
/// The addresses a token shows (its last few).
pub const ADDRESSES_COSTED: usize = 5;

/// What one request has spent; shared by its resolvers and the handler that answers it.
pub struct Budget {
    bytes: AtomicUsize,
    queries: AtomicU32,
    /// The server's answer pool, and the room this request holds in it.
    pool: Arc<Semaphore>,
    held: Mutex<Option<OwnedSemaphorePermit>>,
    refused: AtomicBool,
    refusal: Mutex<Option<AppError>>,
    /// Whose turn it is at the database: a request reads with one connection at a time.
    turn: Arc<tokio::sync::Mutex<()>>,
    /// The document holds a mutation: what it did must never be hidden by a refusal.
    mutates: AtomicBool,
    /// An anonymous request's address lane, taken at its first database read and held until
    /// its answer has gone out (see `BearerAuth::anonymous_turn`).
    anonymous: Option<(Arc<Throttles>, IpAddr)>,
    lane: tokio::sync::OnceCell<LanePass>,
}

impl Budget {
    /// A request's budget, taking room from the server's answer `pool`.
    pub fn new(pool: Arc<Semaphore>) -> Arc<Budget> {
        Arc::new(Budget {
            bytes: AtomicUsize::new(0),
            queries: AtomicU32::new(0),
            pool,
            held: Mutex::new(None),
            refused: AtomicBool::new(false),
            refusal: Mutex::new(None),
            turn: Arc::default(),
            mutates: AtomicBool::new(false),
            anonymous: None,
            lane: tokio::sync::OnceCell::new(),
        })
    }

    /// A budget for an anonymous request from `address`: its database reads wait for the
    /// address's lane (one anonymous request reading at a time per address).
    pub fn anonymous(pool: Arc<Semaphore>, throttles: Arc<Throttles>, address: IpAddr) -> Arc<Budget> {
        let mut budget = Budget::new(pool);
        if let Some(budget) = Arc::get_mut(&mut budget) {
            budget.anonymous = Some((throttles, address));
        }
        budget
    }

    /// Database checkouts counted so far.
    pub fn queries(&self) -> u32 {
        self.queries.load(Ordering::Relaxed)
    }

    /// Counts one database checkout.
    pub fn charge_query(&self) -> Result<(), AppError> {
        if self.queries.fetch_add(1, Ordering::Relaxed) >= MAX_QUERIES {
            return Err(self.refuse(bad_input(format!(
                "The query would need more than {MAX_QUERIES} database reads: ask for fewer items \
                 (smaller limits) or fewer nested lists."
            ))));
        }
        Ok(())
    }

    /// Waits for this request's turn at the database: its resolvers read one after another,
    /// each charging what it read before the next starts, and the request never holds more
    /// than one pooled connection (the rest of the pool stays with everyone else).
    pub async fn take_turn(&self) -> Result<tokio::sync::OwnedMutexGuard<()>, AppError> {
        if let Some((throttles, address)) = &self.anonymous {
            self.lane.get_or_try_init(|| throttles.anonymous.enter(*address)).await?;
        }
        Ok(self.turn.clone().lock_owned().await)
    }

    /// Counts bytes answered (or read to answer).
    pub fn charge_bytes(&self, bytes: usize) -> Result<(), AppError> {
        let before = self.bytes.fetch_add(bytes, Ordering::Relaxed);
        let after = before.saturating_add(bytes);
        if after > MAX_ANSWER_BYTES {
            return Err(self.refuse(bad_input(format!(
                "The query would read and answer more than {} MiB: ask for fewer items (smaller \
                 limits) or fewer fields.",
                MAX_ANSWER_BYTES / (1024 * 1024)
            ))));
        }
        let more = pool_chunks(after) - pool_chunks(before);
        if more > 0 {
            let Ok(permit) = self.pool.clone().try_acquire_many_owned(more as u32) else {
                return Err(self.refuse(AppError::Busy("too many large answers at once".into())));
            };
            let mut held = self.held.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            match held.as_mut() {
                Some(held) => held.merge(permit),
                None => *held = Some(permit),
            }
        }
        Ok(())
    }

    /// Gives back bytes charged in advance that a read did not use.
    pub fn refund(&self, bytes: usize) {
        let before = self.bytes.fetch_sub(bytes, Ordering::Relaxed);
        let after = before.saturating_sub(bytes);
        let fewer = pool_chunks(before) - pool_chunks(after);
        if fewer > 0 {
            let mut held = self.held.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(held) = held.as_mut() {
                drop(held.split(fewer));
            }
        }
    }

    /// Starts counting again, for the next event of a subscription: each event is answered
    /// as a request of its own would be (a connection's subscriptions share one budget, so
    /// what they answer at the same moment is counted together).
    pub fn renew(&self) {
        self.bytes.store(0, Ordering::Relaxed);
        self.queries.store(0, Ordering::Relaxed);
        self.held.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        *self.refusal.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
        self.refused.store(false, Ordering::Relaxed);
    }

    /// Whether the request's document holds a mutation.
    pub fn mutates(&self) -> bool {
        self.mutates.load(Ordering::Relaxed)
    }

    /// Why the request was refused, if it was: it is then answered with this error alone.
    pub fn refusal(&self) -> Option<AppError> {
        if !self.refused.load(Ordering::Relaxed) {
            return None;
        }
        self.refusal.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }

    fn refuse(&self, error: AppError) -> AppError {
        let mut refusal = self.refusal.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.refused.store(true, Ordering::Relaxed);
        refusal.get_or_insert(error).clone()
    }
}

/// About how many bytes rows take once read, for [`Budget::charge_bytes`]: the text they
/// carry (messages, avatars, bios, object data) and a little for the rest.
pub fn row_bytes<'a>(texts: impl IntoIterator<Item = Option<&'a str>>) -> usize {
    texts.into_iter().map(|text| text.map_or(0, str::len) + 32).sum()
}

/// Charges `estimate` bytes before a read runs (so that reads running at once, in all
/// requests, cannot together pass the caps), runs it, and then settles on what the rows
/// read weigh (`weigh`): the difference is charged or given back.
pub async fn read_within<T, F>(
    ctx: &async_graphql::Context<'_>,
    estimate: usize,
    read: F,
    weigh: impl FnOnce(&T) -> usize,
) -> async_graphql::Result<T>
where
    F: std::future::Future<Output = async_graphql::Result<T>>,
{
    let Some(budget) = budget(ctx) else { return read.await };
    budget.charge_bytes(estimate).map_err(super::to_api)?;
    let rows = match read.await {
        Ok(rows) => rows,
        Err(error) => {
            budget.refund(estimate);
            return Err(error);
        }
    };
    let weight = weigh(&rows);
    if weight > estimate {
        budget.charge_bytes(weight - estimate).map_err(super::to_api)?;
    } else {
        budget.refund(estimate - weight);
    }
    Ok(rows)
}

/// The request's budget (in its [`super::RequestContext`]).
pub fn budget<'a>(ctx: &'a async_graphql::Context<'_>) -> Option<&'a Arc<Budget>> {
    ctx.data_opt::<super::RequestContext>().map(|request| &request.budget)
}

/// The extension that keeps fences 1 and 3, and the documents parsed before
/// ([`super::parsed`]).
#[derive(Clone, Default)]
pub struct Limits {
    parsed: Arc<super::parsed::Parsed>,
}

impl ExtensionFactory for Limits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Extension for Limits {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = match self.parsed.get(query) {
            Some(document) => document,
            None => {
                let document = next.run(ctx, query, variables).await?;
                check_document(&document).map_err(|message| ServerError::new(message, None))?;
                self.parsed.keep(query, &document);
                document
            }
        };
        if let Some(budget) = ctx.data_opt::<super::RequestContext>().map(|request| &request.budget) {
            let mutates = document.operations.iter().any(|(_, op)| op.node.ty == OperationType::Mutation);
            budget.mutates.store(mutates, Ordering::Relaxed);
        }
        Ok(document)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        next.run(ctx).await.map_err(|errors| errors.into_iter().map(explain_limit).collect())
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let Some(budget) = ctx.data_opt::<super::RequestContext>().map(|request| &request.budget) else {
            return next.run(ctx, info).await;
        };
        if let Some(refusal) = budget.refusal() {
            // Refused already: nothing more runs; the handler answers the refusal alone.
            return Err(ServerError::new(refusal.to_string(), None));
        }
        let leaf = is_leaf(info.return_type);
        let value = next.run(ctx, info).await?;
        if let Some(value) = &value {
            if leaf {
                budget
                    .charge_bytes(size_of_value(value))
                    .map_err(|e| ServerError::new(e.to_string(), None))?;
            }
        }
        Ok(value)
    }
}

/// Rewrites async-graphql's terse limit errors into ones that say what to change.
fn explain_limit(mut error: ServerError) -> ServerError {
    match error.message.as_str() {
        "Query is too complex." => {
            error.message = format!(
                "The query costs more than {MAX_COMPLEXITY}: every list multiplies the cost of \
                 its items by its limit. Ask for fewer items (smaller limits) or fewer fields."
            )
        }
        "Query is nested too deep." => {
            error.message = format!("The query nests fields more than {MAX_DEPTH} levels deep.")
        }
        _ => {}
    }
    error
}

/// Scalars and lists of scalars: their values are what an answer is made of; an object's
/// value is made of its fields', already counted.
fn is_leaf(return_type: &str) -> bool {
    let name = return_type.trim_matches(|c| matches!(c, '[' | ']' | '!'));
    matches!(name, "String" | "ID" | "Int" | "Float" | "Boolean" | "DateTime" | "JSONObject" | "BigInt")
}

/// About how many bytes a value takes in the JSON answer.
fn size_of_value(value: &Value) -> usize {
    match value {
        Value::Null | Value::Boolean(_) => 5,
        Value::Number(_) | Value::Enum(_) => 20,
        Value::String(text) => text.len() + 2,
        Value::Binary(bytes) => bytes.len() * 2,
        Value::List(items) => 2 + items.iter().map(size_of_value).sum::<usize>(),
        Value::Object(fields) => {
            2 + fields.iter().map(|(name, value)| name.len() + 4 + size_of_value(value)).sum::<usize>()
        }
    }
}

/// Fence 1: root fields, mutations and aliases, counted as written.
fn check_document(document: &ExecutableDocument) -> Result<(), String> {
    for (_, operation) in document.operations.iter() {
        let roots = root_fields(document, &operation.node.selection_set, &mut HashSet::new());
        if roots > MAX_ROOT_FIELDS {
            return Err(format!(
                "An operation may have at most {MAX_ROOT_FIELDS} root fields; it has {roots}."
            ));
        }
        if operation.node.ty == OperationType::Mutation && roots > MAX_MUTATIONS {
            return Err(format!("A request may run at most {MAX_MUTATIONS} mutations; it has {roots}."));
        }
    }
    let mut aliases = 0;
    for (_, operation) in document.operations.iter() {
        aliases += count_aliases(&operation.node.selection_set);
    }
    for fragment in document.fragments.values() {
        aliases += count_aliases(&fragment.node.selection_set);
    }
    if aliases > MAX_ALIASES {
        return Err(format!("A query may alias at most {MAX_ALIASES} fields; it aliases {aliases}."));
    }
    Ok(())
}

/// The fields at the top of a selection, fragments spread in (each fragment once).
fn root_fields<'a>(
    document: &'a ExecutableDocument,
    selection_set: &'a Positioned<SelectionSet>,
    spread: &mut HashSet<&'a str>,
) -> usize {
    selection_set
        .node
        .items
        .iter()
        .map(|selection| match &selection.node {
            Selection::Field(_) => 1,
            Selection::InlineFragment(fragment) => {
                root_fields(document, &fragment.node.selection_set, spread)
            }
            Selection::FragmentSpread(spread_of) => {
                let name = spread_of.node.fragment_name.node.as_str();
                match document.fragments.get(name) {
                    Some(fragment) if spread.insert(name) => {
                        root_fields(document, &fragment.node.selection_set, spread)
                    }
                    _ => 0,
                }
            }
        })
        .sum()
}

fn count_aliases(selection_set: &Positioned<SelectionSet>) -> usize {
    selection_set
        .node
        .items
        .iter()
        .map(|selection| match &selection.node {
            Selection::Field(field) => {
                usize::from(field.node.alias.is_some()) + count_aliases(&field.node.selection_set)
            }
            Selection::InlineFragment(fragment) => count_aliases(&fragment.node.selection_set),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_over_its_cap_is_refused_and_remembered() {
        let budget = Budget::new(answer_pool());
        assert!(budget.charge_bytes(MAX_ANSWER_BYTES).is_ok());
        assert!(budget.charge_bytes(1).is_err());
        assert!(matches!(budget.refusal(), Some(AppError::BadInput(message)) if message.contains("MiB")));
    }

    #[test]
    fn room_charged_in_advance_and_not_used_is_given_back() {
        let pool = answer_pool();
        let available = pool.available_permits();
        let budget = Budget::new(pool.clone());
        budget.charge_bytes(8 * CHUNK_BYTES).unwrap();
        budget.refund(6 * CHUNK_BYTES);
        assert_eq!(pool.available_permits(), available - 1);
        budget.charge_bytes(MAX_ANSWER_BYTES - 2 * CHUNK_BYTES).unwrap();
        assert!(budget.charge_bytes(1).is_err(), "what was given back can be charged again, no more");
    }

    #[test]
    fn database_reads_are_capped() {
        let budget = Budget::new(answer_pool());
        for _ in 0..MAX_QUERIES {
            budget.charge_query().unwrap();
        }
        assert!(budget.charge_query().is_err());
    }

    #[test]
    fn room_taken_from_the_pool_is_given_back() {
        let pool = answer_pool();
        let available = pool.available_permits();
        let budget = Budget::new(pool.clone());
        budget.charge_bytes(4 * CHUNK_BYTES).unwrap();
        assert_eq!(pool.available_permits(), available - 3);
        drop(budget);
        assert_eq!(pool.available_permits(), available);
    }

    #[test]
    fn documents_are_counted_as_written() {
        let parse = |query: &str| async_graphql::parser::parse_query(query).unwrap();
        let wide: String = (0..=MAX_ROOT_FIELDS).map(|i| format!("a{i}: serverInfo {{ name }} ")).collect();
        assert!(check_document(&parse(&format!("{{ {wide} }}"))).unwrap_err().contains("root fields"));
        let spread = "query { ...F } fragment F on Query { serverInfo { name } }";
        assert!(check_document(&parse(spread)).is_ok());
        let aliased: String = (0..=MAX_ALIASES).map(|i| format!("n{i}: name ")).collect();
        let query = format!("{{ serverInfo {{ {aliased} }} }}");
        assert!(check_document(&parse(&query)).unwrap_err().contains("alias"));
    }
}
