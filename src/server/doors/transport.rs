//! The object transport: the REST routes through which Speckle's clients send and receive
//! objects (SPEC §7), behind the same bearer extractor and 401 as `/graphql`. Writing needs
//! `streams:write` and an owner's or contributor's role; reading needs `streams:read` and a
//! role, or a public stream. A private stream the caller cannot read is 404.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use http_body::Body as _;
use tokio_stream::wrappers::ReceiverStream;
use tower_http::compression::{CompressionLayer, CompressionLevel};

use crate::rules::error::{bad_input, too_large, AppError, AppResult};
use crate::rules::scopes::Scope;
use crate::server::auth::throttle::client_ip;
use crate::server::db::{DbConn, StreamId};
use crate::server::domain::objects::{self, Format, MAX_BATCH_BYTES, MAX_IDS_PER_REQUEST, MAX_ID_CHARS};
use crate::server::domain::streams::{self, Access};
use crate::server::domain::tokens::Caller;
use crate::server::doors::bearer::{self, BearerAuth};
use crate::server::media;
use crate::server::room::{Holder, Share};
use crate::server::state::AppState;

/// The most bytes of a diff or download request: a form naming [`MAX_IDS_PER_REQUEST`] ids of
/// the longest kind, each quoted and separated with percent-encoded punctuation, and a little
/// for the rest of the form. Read no further.
const MAX_ID_LIST_BYTES: usize = MAX_IDS_PER_REQUEST * (MAX_ID_CHARS + 9) + 1024;

/// How long one batch may take to arrive.
const BATCH_ARRIVAL: Duration = Duration::from_secs(60);

/// The transport's routes. Their bodies are read by the handlers themselves, after the
/// caller's access is checked, a chunk at a time against the room (see [`crate::server::room`]).
pub fn routes() -> Router<AppState> {
    let downloads = Router::new()
        .route("/objects/{stream_id}/{object_id}", get(download))
        .route("/objects/{stream_id}/{object_id}/single", get(single))
        .route("/api/diff/{stream_id}", post(diff))
        .route("/api/getobjects/{stream_id}", post(get_objects));
    let uploads = Router::new().route("/objects/{stream_id}", post(upload));
    // Object JSON compresses about tenfold; the fastest level keeps downloads fast.
    downloads
        .layer(CompressionLayer::new().quality(CompressionLevel::Fastest))
        .merge(uploads)
        .layer(DefaultBodyLimit::disable())
}

/// The stream, if the caller may read its objects ([`streams::readable_by`]).
async fn readable(conn: &mut DbConn, auth: &BearerAuth, stream_id: &StreamId) -> AppResult<Access> {
    streams::readable_by(conn, stream_id, Caller::reader_of(auth.caller())).await
}

/// The caller, if they may write objects to the stream: `streams:write` and an owner's or
/// contributor's role.
async fn writable<'a>(
    conn: &mut DbConn,
    auth: &'a BearerAuth,
    stream_id: &StreamId,
) -> AppResult<&'a Caller> {
    let caller = auth.caller().ok_or(AppError::SignedOut)?;
    writable_by(conn, caller, stream_id).await?;
    Ok(caller)
}

async fn writable_by(conn: &mut DbConn, caller: &Caller, stream_id: &StreamId) -> AppResult<()> {
    caller.require(Scope::StreamsWrite)?;
    streams::readable(conn, stream_id, Some(caller.actor())).await?.require_write("send objects")
}

/// Who a big request counts against: the token's owner, or the address without a token.
fn holder(auth: &BearerAuth, headers_of: &axum::http::Extensions) -> Holder {
    match (auth.caller(), auth.anonymous_address()) {
        (Some(caller), _) => Holder::User(caller.user_id.clone()),
        (None, Some(address)) => Holder::Address(address),
        (None, None) => Holder::Address(client_ip(headers_of)),
    }
}

/// The ids of a diff or download request's `objects` field: a JSON array of ids, as a string
/// (in a form, as specklepy sends it, or in a JSON body, as Speckle's .NET client does) or as
/// an array. The body is read a chunk at a time, taking room as it comes, and no further than
/// [`MAX_ID_LIST_BYTES`]; the ids are checked and counted as they are parsed, so a list past
/// [`MAX_IDS_PER_REQUEST`] stops there.
async fn id_list(headers: &HeaderMap, body: Body, share: &mut Share) -> AppResult<Vec<String>> {
    let is_json = media::content_type(headers).as_deref() == Some("application/json");
    let body = read_capped(body, MAX_ID_LIST_BYTES, share).await?;
    // The ids it keeps are at most as long as the body.
    share.take(body.len()).await?;
    objects::parse_id_list(&body, is_json)
}

/// A request body, read a chunk at a time into room taken as it comes; 413 past `max`.
async fn read_capped(body: Body, max: usize, share: &mut Share) -> AppResult<Vec<u8>> {
    let mut body = std::pin::pin!(body);
    let mut bytes = Vec::new();
    while let Some(frame) = std::future::poll_fn(|cx| body.as_mut().poll_frame(cx)).await {
        let frame = frame.map_err(|_| bad_input("The request body could not be read."))?;
        let Ok(chunk) = frame.into_data() else { continue };
        if bytes.len() + chunk.len() > max {
            return Err(too_large(format!("A request may name at most {MAX_IDS_PER_REQUEST} objects.")));
        }
        share.take(chunk.len()).await?;
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// `POST /api/diff/:streamId`: which of these objects the stream already holds, so a client
/// sends only the others. Answers `{"<id>": true|false, …}`. Access is checked before the
/// body is read.
async fn diff(
    State(state): State<AppState>,
    auth: BearerAuth,
    Path(stream_id): Path<StreamId>,
    request: axum::extract::Request,
) -> AppResult<Response> {
    writable(&mut state.db.get().await?, &auth, &stream_id).await?;
    let (parts, body) = request.into_parts();
    let mut share = state.room.enter(holder(&auth, &parts.extensions)).await?;
    let ids = id_list(&parts.headers, body, &mut share).await?;
    let held = objects::existing(&mut state.db.get().await?, &stream_id, &ids).await?;
    let answer: serde_json::Map<String, serde_json::Value> =
        ids.into_iter().map(|id| (id.clone(), held.contains(&id).into())).collect();
    Ok(axum::Json(answer).into_response())
}

/// The caller of an upload's next batch: the token must still be valid, and its owner still
/// a writer of the stream, for each batch (a revoked token or a removed role stops an upload
/// that is under way).
async fn still_writing(
    state: &AppState,
    headers: &HeaderMap,
    stream_id: &StreamId,
    conn: &mut DbConn,
) -> Result<std::sync::Arc<Caller>, Response> {
    let caller = match bearer::still_valid(state, headers).await {
        Ok(Some(caller)) => caller,
        Ok(None) => return Err(bearer::invalid_token()),
        Err(error) => return Err(error.into_response()),
    };
    writable_by(conn, &caller, stream_id).await.map_err(IntoResponse::into_response)?;
    Ok(caller)
}

/// `POST /objects/:streamId`: stores objects sent as a multipart form, each part a batch
/// (a JSON array of objects, gzipped or not). Each batch is stored whole or not at all; one
/// that is malformed (400) or over [`MAX_BATCH_BYTES`] uncompressed (413) ends the upload,
/// and the batches before it stay stored. Answers 201. A batch takes room as its bytes come
/// (one that trickles in holds only what arrived), and the caller's access is checked again
/// before each batch is stored.
async fn upload(
    State(state): State<AppState>,
    auth: BearerAuth,
    Path(stream_id): Path<StreamId>,
    headers: HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    match store_upload(&state, &auth, &stream_id, &headers, multipart).await {
        Ok(response) | Err(response) => response,
    }
}

async fn store_upload(
    state: &AppState,
    auth: &BearerAuth,
    stream_id: &StreamId,
    headers: &HeaderMap,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, Response> {
    let refuse = IntoResponse::into_response;
    // A connection only while the database is used, never while the client sends.
    let caller =
        writable(&mut state.db.get().await.map_err(refuse)?, auth, stream_id).await.map_err(refuse)?;
    let mut share = state.room.enter(Holder::User(caller.user_id.clone())).await.map_err(refuse)?;
    let mut multipart = multipart
        .map_err(|_| refuse(bad_input("Send the objects as multipart/form-data, one batch per part.")))?;
    let mut batches = 0;
    while let Some(part) = multipart.next_field().await.map_err(|e| refuse(multipart_error(e)))? {
        let text = tokio::time::timeout(BATCH_ARRIVAL, read_batch(part, &mut share))
            .await
            .map_err(|_| {
                refuse(bad_input(format!("A batch must arrive within {} seconds.", BATCH_ARRIVAL.as_secs())))
            })?
            .map_err(refuse)?;
        // Its rows are a copy of its text while they are stored.
        share.take(text.len()).await.map_err(refuse)?;
        let mut conn = state.db.get().await.map_err(refuse)?;
        still_writing(state, headers, stream_id, &mut conn).await?;
        objects::store_batch(&mut conn, stream_id, text).await.map_err(refuse)?;
        share.release();
        batches += 1;
    }
    if batches == 0 {
        return Err(refuse(bad_input("The upload holds no batch of objects.")));
    }
    Ok(StatusCode::CREATED.into_response())
}

fn multipart_error(error: axum::extract::multipart::MultipartError) -> AppError {
    bad_input(format!("The multipart body is malformed: {}", error.body_text()))
}

/// A part's JSON, uncompressed, read a chunk at a time into room taken as it grows, and
/// refused as soon as it passes the limit, so memory stays bounded however big the part
/// claims or turns out to be.
async fn read_batch(mut part: axum::extract::multipart::Field<'_>, share: &mut Share) -> AppResult<String> {
    let kind = part.content_type().map(media::essence);
    let mut text = match kind.as_deref() {
        Some("application/gzip" | "application/x-gzip") => {
            Batch::Gzip(Box::new(flate2::write::GzDecoder::new(Capped::default())))
        }
        Some("application/json" | "text/plain" | "application/octet-stream") | None => {
            Batch::Plain(Capped::default())
        }
        Some(other) => {
            return Err(bad_input(format!(
                "A batch of type {other:?} cannot be read: send application/gzip, application/json or text/plain."
            )));
        }
    };
    while let Some(chunk) = part.chunk().await.map_err(multipart_error)? {
        let before = text.len();
        text.write(&chunk)?;
        share.take(text.len() - before).await?;
    }
    let bytes = text.finish()?;
    String::from_utf8(bytes).map_err(|_| bad_input("A batch must be UTF-8 JSON."))
}

/// A batch being read: plain, or gzipped (uncompressed as it arrives).
enum Batch {
    Plain(Capped),
    Gzip(Box<flate2::write::GzDecoder<Capped>>),
}

impl Batch {
    /// The bytes of JSON read so far.
    fn len(&self) -> usize {
        match self {
            Batch::Plain(capped) => capped.0.len(),
            Batch::Gzip(decoder) => decoder.get_ref().0.len(),
        }
    }

    fn write(&mut self, chunk: &[u8]) -> AppResult<()> {
        use std::io::Write;
        match self {
            Batch::Plain(capped) => capped.write_all(chunk).map_err(batch_error),
            Batch::Gzip(decoder) => decoder.write_all(chunk).map_err(batch_error),
        }
    }

    fn finish(self) -> AppResult<Vec<u8>> {
        match self {
            Batch::Plain(capped) => Ok(capped.0),
            Batch::Gzip(decoder) => decoder.finish().map(|capped| capped.0).map_err(batch_error),
        }
    }
}

/// Bytes that refuse to grow past [`MAX_BATCH_BYTES`].
#[derive(Default)]
struct Capped(Vec<u8>);

impl std::io::Write for Capped {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + bytes.len() > MAX_BATCH_BYTES {
            return Err(std::io::Error::new(std::io::ErrorKind::OutOfMemory, "batch too large"));
        }
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn batch_error(error: std::io::Error) -> AppError {
    if error.kind() == std::io::ErrorKind::OutOfMemory {
        return too_large(format!(
            "A batch may hold at most {} MB of JSON, uncompressed: send smaller batches.",
            MAX_BATCH_BYTES / (1024 * 1024)
        ));
    }
    bad_input("A gzipped batch could not be uncompressed.")
}

/// The format a download asks for: `Accept: text/plain` for lines, else a JSON array.
fn format(headers: &HeaderMap) -> Format {
    if media::accepts(headers, "text/plain") {
        Format::Lines
    } else {
        Format::JsonArray
    }
}

/// A download's answer: its chunks as they are read.
fn streamed(format: Format, chunks: tokio::sync::mpsc::Receiver<AppResult<axum::body::Bytes>>) -> Response {
    let content_type = match format {
        Format::Lines => "text/plain; charset=utf-8",
        Format::JsonArray => "application/json",
    };
    let body = Body::from_stream(ReceiverStream::new(chunks));
    ([(header::CONTENT_TYPE, HeaderValue::from_static(content_type))], body).into_response()
}

/// `GET /objects/:streamId/:objectId/single`: the object alone, as stored.
async fn single(
    State(state): State<AppState>,
    auth: BearerAuth,
    Path((stream_id, object_id)): Path<(StreamId, String)>,
) -> AppResult<Response> {
    // An anonymous request's turn first, never waited for with a connection in hand.
    let _turn = auth.anonymous_turn(&state).await?;
    let mut conn = state.db.get().await?;
    readable(&mut conn, &auth, &stream_id).await?;
    let object = objects::find(&mut conn, &stream_id, &object_id)
        .await?
        .ok_or_else(|| crate::rules::error::not_found("Object"))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], object.data).into_response())
}

/// `GET /objects/:streamId/:objectId`: the object, then every descendant its closure names.
async fn download(
    State(state): State<AppState>,
    auth: BearerAuth,
    Path((stream_id, object_id)): Path<(StreamId, String)>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let turn = auth.anonymous_turn(&state).await?;
    let mut conn = state.db.get().await?;
    readable(&mut conn, &auth, &stream_id).await?;
    let root = objects::find(&mut conn, &stream_id, &object_id)
        .await?
        .ok_or_else(|| crate::rules::error::not_found("Object"))?;
    drop(conn);
    let children = objects::closure(&root.data)?.into_iter().map(|(id, _)| id).collect();
    let format = format(&headers);
    Ok(streamed(format, objects::download(state.db.clone(), stream_id, Some(root), children, format, turn)))
}

/// `POST /api/getobjects/:streamId`: these objects (a client asks for the ones it lacks).
/// Access is checked before the body is read; the list's room is held until it is served.
async fn get_objects(
    State(state): State<AppState>,
    auth: BearerAuth,
    Path(stream_id): Path<StreamId>,
    request: axum::extract::Request,
) -> AppResult<Response> {
    let turn = auth.anonymous_turn(&state).await?;
    readable(&mut state.db.get().await?, &auth, &stream_id).await?;
    let (parts, body) = request.into_parts();
    let mut share = state.room.enter(holder(&auth, &parts.extensions)).await?;
    let ids = id_list(&parts.headers, body, &mut share).await?;
    let format = format(&parts.headers);
    let held = (share, turn);
    Ok(streamed(format, objects::download(state.db.clone(), stream_id, None, ids, format, held)))
}
