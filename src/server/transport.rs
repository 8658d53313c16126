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
use serde::Deserialize;
use tokio_stream::wrappers::ReceiverStream;
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::limit::RequestBodyLimitLayer;

use crate::error::{bad_input, too_large, AppError, AppResult};
use crate::scopes::Scope;
use crate::server::auth::bearer::BearerAuth;
use crate::server::db::DbConn;
use crate::server::objects::{self, Format, MAX_BATCH_BYTES, MAX_IDS_PER_REQUEST};
use crate::server::streams::{self, Access};
use crate::server::AppState;

/// The most bytes of a diff or download request: a form naming up to
/// [`MAX_IDS_PER_REQUEST`] ids.
const MAX_ID_LIST_BYTES: usize = 16 * 1024 * 1024;

/// Batches read and stored at once, by all uploads together: each holds up to
/// [`MAX_BATCH_BYTES`] in memory while it is read and parsed (briefly twice that, while its
/// objects are copied out of the text for storing), so this bounds the memory uploads take.
/// Speckle's clients send four at a time.
static BATCH_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(4);
/// How long a batch may wait for a slot before the upload is told to retry (503).
const SLOT_WAIT: Duration = Duration::from_secs(30);
/// How long one batch may take to arrive: a client that trickles it holds a slot.
const BATCH_ARRIVAL: Duration = Duration::from_secs(60);

/// The transport's routes, each with its body limit. Uploads have none as a whole: they are
/// read a batch at a time, and each batch is limited.
pub fn routes() -> Router<AppState> {
    let id_lists = Router::new()
        .route("/api/diff/{stream_id}", post(diff))
        .route("/api/getobjects/{stream_id}", post(get_objects))
        .layer(RequestBodyLimitLayer::new(MAX_ID_LIST_BYTES));
    let downloads = Router::new()
        .route("/objects/{stream_id}/{object_id}", get(download))
        .route("/objects/{stream_id}/{object_id}/single", get(single))
        .merge(id_lists);
    let uploads =
        Router::new().route("/objects/{stream_id}", post(upload)).layer(DefaultBodyLimit::disable());
    // Object JSON compresses about tenfold; the fastest level keeps downloads fast.
    downloads.layer(CompressionLayer::new().quality(CompressionLevel::Fastest)).merge(uploads)
}

/// The stream, if the caller may read its objects: with `streams:read` and a role, or when
/// it is public. Anyone else gets "not found", or, with a token lacking `streams:read`, the
/// missing scope (which says nothing about the stream).
async fn readable(conn: &mut DbConn, auth: &BearerAuth, stream_id: &str) -> AppResult<Access> {
    let caller = auth.caller();
    let reader = caller.filter(|caller| caller.scopes.contains(Scope::StreamsRead));
    let access = streams::readable(conn, stream_id, reader.map(|caller| caller.user_id.as_str())).await;
    match (access, caller) {
        (Err(AppError::NotFound(_)), Some(caller)) if reader.is_none() => {
            Err(AppError::MissingScope { needed: Scope::StreamsRead, held: caller.scopes })
        }
        (access, _) => access,
    }
}

/// The stream, if the caller may write objects to it: `streams:write` and an owner's or
/// contributor's role.
async fn writable(conn: &mut DbConn, auth: &BearerAuth, stream_id: &str) -> AppResult<()> {
    let caller = auth.require(Scope::StreamsWrite)?;
    streams::readable(conn, stream_id, Some(&caller.user_id)).await?.require_write("send objects")
}

/// The `objects` field of a diff or download request: a JSON array of ids, as a string (in
/// a form, as Speckle's clients send it, or in a JSON body) or as an array.
#[derive(Deserialize)]
struct IdList {
    objects: IdsField,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum IdsField {
    Text(String),
    Ids(Vec<String>),
}

fn id_list(headers: &HeaderMap, body: &[u8]) -> AppResult<Vec<String>> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("application/json"));
    let explain =
        || bad_input("Send the ids as the form field `objects`: a JSON array of object ids, as a string.");
    let list: IdList = if is_json {
        serde_json::from_slice(body).map_err(|_| explain())?
    } else {
        serde_urlencoded::from_bytes(body).map_err(|_| explain())?
    };
    let ids = match list.objects {
        IdsField::Text(text) => serde_json::from_str::<Vec<String>>(&text).map_err(|_| explain())?,
        IdsField::Ids(ids) => ids,
    };
    if ids.len() > MAX_IDS_PER_REQUEST {
        return Err(too_large(format!("A request may name at most {MAX_IDS_PER_REQUEST} objects.")));
    }
    for id in &ids {
        objects::validate_id(id)?;
    }
    Ok(ids)
}

/// `POST /api/diff/:streamId`: which of these objects the stream already holds, so a client
/// sends only the others. Answers `{"<id>": true|false, …}`.
async fn diff(
    State(state): State<AppState>,
    auth: BearerAuth,
    Path(stream_id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> AppResult<Response> {
    let mut conn = state.db.get().await?;
    writable(&mut conn, &auth, &stream_id).await?;
    let ids = id_list(&headers, &body)?;
    let held = objects::existing(&mut conn, &stream_id, &ids).await?;
    let answer: serde_json::Map<String, serde_json::Value> =
        ids.into_iter().map(|id| (id.clone(), held.contains(&id).into())).collect();
    Ok(axum::Json(answer).into_response())
}

/// `POST /objects/:streamId`: stores objects sent as a multipart form, each part a batch
/// (a JSON array of objects, gzipped or not). Each batch is stored whole or not at all; one
/// that is malformed (400) or over [`MAX_BATCH_BYTES`] uncompressed (413) ends the upload,
/// and the batches before it stay stored. Answers 201.
async fn upload(
    State(state): State<AppState>,
    auth: BearerAuth,
    Path(stream_id): Path<String>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> AppResult<Response> {
    // A connection only while the database is used, never while the client sends.
    writable(&mut state.db.get().await?, &auth, &stream_id).await?;
    let mut multipart =
        multipart.map_err(|_| bad_input("Send the objects as multipart/form-data, one batch per part."))?;
    let mut batches = 0;
    while let Some(part) = multipart.next_field().await.map_err(multipart_error)? {
        let _slot = tokio::time::timeout(SLOT_WAIT, BATCH_SLOTS.acquire())
            .await
            .map_err(|_| AppError::Busy("too many uploads at once".into()))?
            .map_err(|_| AppError::Internal)?;
        let text = tokio::time::timeout(BATCH_ARRIVAL, read_batch(part)).await.map_err(|_| {
            bad_input(format!("A batch must arrive within {} seconds.", BATCH_ARRIVAL.as_secs()))
        })??;
        objects::store_batch(&mut state.db.get().await?, &stream_id, text).await?;
        batches += 1;
    }
    if batches == 0 {
        return Err(bad_input("The upload holds no batch of objects."));
    }
    Ok(StatusCode::CREATED.into_response())
}

fn multipart_error(error: axum::extract::multipart::MultipartError) -> AppError {
    bad_input(format!("The multipart body is malformed: {}", error.body_text()))
}

/// A part's JSON, uncompressed, read a chunk at a time and refused as soon as it passes the
/// limit, so memory stays bounded however big the part claims or turns out to be.
async fn read_batch(mut part: axum::extract::multipart::Field<'_>) -> AppResult<String> {
    let kind =
        part.content_type().map(|t| t.split(';').next().unwrap_or_default().trim().to_ascii_lowercase());
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
        text.write(&chunk)?;
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
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let wants_lines =
        accept.split(',').any(|media| media.split(';').next().unwrap_or_default().trim() == "text/plain");
    if wants_lines {
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
    Path((stream_id, object_id)): Path<(String, String)>,
) -> AppResult<Response> {
    let mut conn = state.db.get().await?;
    readable(&mut conn, &auth, &stream_id).await?;
    let object = objects::find(&mut conn, &stream_id, &object_id)
        .await?
        .ok_or_else(|| crate::error::not_found("Object"))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], object.data).into_response())
}

/// `GET /objects/:streamId/:objectId`: the object, then every descendant its closure names.
async fn download(
    State(state): State<AppState>,
    auth: BearerAuth,
    Path((stream_id, object_id)): Path<(String, String)>,
    headers: HeaderMap,
) -> AppResult<Response> {
    let mut conn = state.db.get().await?;
    readable(&mut conn, &auth, &stream_id).await?;
    let root = objects::find(&mut conn, &stream_id, &object_id)
        .await?
        .ok_or_else(|| crate::error::not_found("Object"))?;
    drop(conn);
    let children = objects::closure(&root.data)?.into_iter().map(|(id, _)| id).collect();
    let format = format(&headers);
    Ok(streamed(format, objects::download(state.db.clone(), stream_id, Some(root), children, format)))
}

/// `POST /api/getobjects/:streamId`: these objects (a client asks for the ones it lacks).
async fn get_objects(
    State(state): State<AppState>,
    auth: BearerAuth,
    Path(stream_id): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> AppResult<Response> {
    let mut conn = state.db.get().await?;
    readable(&mut conn, &auth, &stream_id).await?;
    drop(conn);
    let ids = id_list(&headers, &body)?;
    let format = format(&headers);
    Ok(streamed(format, objects::download(state.db.clone(), stream_id, None, ids, format)))
}
