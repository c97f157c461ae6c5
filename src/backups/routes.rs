//! `/api/super-admin/…/backups`, `/export` and `/clients/import`.

use std::path::PathBuf;

use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt as _;
use serde::Deserialize;

use super::{BackupInfo, Source, store, transfer};
use crate::auth::caller::SuperAdmin;
use crate::error::AppError;
use crate::jobs::Task;
use crate::jobs::routes::{Accepted, accept};
use crate::openapi::{Access, Answer, Api, Spec, schema};
use crate::state::AppState;
use crate::super_admin::routes::client_id;
use crate::tenancy::lifecycle;
use crate::tenancy::registry::Client;

const SQLITE: &str = "application/vnd.sqlite3";

pub fn routes(api: &mut Api) {
    api.post(
        "/api/super-admin/clients/{id}/backups",
        Spec::new("Back up one shop online (a job)", Access::SuperAdmin, Answer::Json(202, schema::<Accepted>)),
        create,
    )
    .get(
        "/api/super-admin/clients/{id}/backups",
        Spec::new("A shop's verified backups, newest first", Access::SuperAdmin, Answer::Json(200, schema::<Vec<BackupInfo>>)),
        list,
    )
    .get(
        "/api/super-admin/clients/{id}/backups/{name}",
        Spec::new("Download one backup", Access::SuperAdmin, Answer::File(SQLITE)),
        download,
    )
    .delete(
        "/api/super-admin/clients/{id}/backups/{name}",
        Spec::new("Delete one backup", Access::SuperAdmin, Answer::NoContent),
        delete,
    )
    .post(
        "/api/super-admin/clients/{id}/backups/{name}/restore",
        Spec::new(
            "Restore a shop from one of its backups (a job; the shop answers 503 during the swap)",
            Access::SuperAdmin,
            Answer::Json(202, schema::<Accepted>),
        ),
        restore,
    )
    .post(
        "/api/super-admin/backups",
        Spec::new(
            "Back up every active shop and main.db (a job with progress; unchanged shops are skipped unless force=true)",
            Access::SuperAdmin,
            Answer::Json(202, schema::<Accepted>),
        )
        .query(&[("force", "boolean")]),
        backup_all,
    )
    .get(
        "/api/super-admin/clients/{id}/export",
        Spec::new(
            "Export a shop as one file (its data, registry row and admins), importable on another server",
            Access::SuperAdmin,
            Answer::File(SQLITE),
        ),
        export,
    )
    .post(
        "/api/super-admin/clients/import",
        Spec::new("Import an exported shop under a new id", Access::SuperAdmin, Answer::Json(201, schema::<Client>))
            .upload(SQLITE)
            .query(&[("subdomain", "string")]),
        import,
    );
}

fn no_backup() -> AppError {
    AppError::not_found("backup_not_found", "this shop has no backup with that name")
}

/// The shop exists and is served (404 / 409 otherwise).
pub(crate) async fn served(state: &AppState, id: i64) -> Result<(), AppError> {
    state.main.run(move |c| lifecycle::require_served(c, id).map(|_| ())).await
}

async fn create(state: web::Data<AppState>, _: SuperAdmin, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    let id = client_id(&path)?;
    served(&state, id).await?;
    accept(&state, Task::BackupClient { client_id: id }).await
}

async fn list(
    state: web::Data<AppState>,
    _: SuperAdmin,
    path: web::Path<String>,
) -> Result<web::Json<Vec<BackupInfo>>, AppError> {
    let id = client_id(&path)?;
    let found = state.main.run(move |c| Ok(crate::tenancy::registry::find(c, id)?)).await?;
    found.ok_or_else(|| AppError::not_found("client_not_found", "no such client"))?;
    let folder = Source::Client(id).folder(&state.settings.backup_dir);
    let backups = web::block(move || store::list(&folder)).await??;
    Ok(web::Json(backups))
}

/// `(client id, backup name)` from the path; the name must be one of that shop's backups.
pub(crate) async fn find(state: &AppState, raw: &(String, String)) -> Result<(i64, BackupInfo, PathBuf), AppError> {
    let id = client_id(&raw.0)?;
    let name = raw.1.clone();
    let folder = Source::Client(id).folder(&state.settings.backup_dir);
    let found = web::block(move || store::find(&folder, &name)).await??;
    let (info, path) = found.ok_or_else(no_backup)?;
    Ok((id, info, path))
}

pub(crate) async fn download(
    state: web::Data<AppState>,
    _: SuperAdmin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, info, file) = find(&state, &path).await?;
    stream_file(file, false, &format!("client_{id}-{}.db", info.name)).await
}

pub(crate) async fn delete(
    state: web::Data<AppState>,
    _: SuperAdmin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, info, _) = find(&state, &path).await?;
    let folder = Source::Client(id).folder(&state.settings.backup_dir);
    let tenancy = state.tenancy.clone();
    let removed = web::block(move || -> Result<bool, AppError> {
        let _op = tenancy.file_ops.lock(id)?;
        Ok(store::delete(&folder, &info.name)?)
    })
    .await??;
    if !removed {
        return Err(no_backup());
    }
    Ok(HttpResponse::NoContent().finish())
}

async fn restore(
    state: web::Data<AppState>,
    _: SuperAdmin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (id, info, _) = find(&state, &path).await?;
    served(&state, id).await?;
    accept(&state, Task::RestoreClient { client_id: id, name: info.name }).await
}

#[derive(Deserialize)]
pub(crate) struct AllQuery {
    force: Option<bool>,
}

pub(crate) async fn backup_all(
    state: web::Data<AppState>,
    _: SuperAdmin,
    q: web::Query<AllQuery>,
) -> Result<HttpResponse, AppError> {
    accept(&state, Task::BackupAll { force: q.force.unwrap_or(false) }).await
}

pub(crate) async fn export(
    state: web::Data<AppState>,
    _: SuperAdmin,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id = client_id(&path)?;
    let (tenancy, main, data_dir) = (state.tenancy.clone(), state.main.clone(), state.settings.data_dir.clone());
    let (file, subdomain) = web::block(move || -> Result<(PathBuf, String), AppError> {
        let conn = main.get()?;
        let client = lifecycle::require_served(&conn, id)?;
        let out = transfer::new_upload_path(&data_dir).map_err(|e| AppError::Internal(e.into()))?;
        transfer::export_client(&tenancy, &conn, id, &out)?;
        Ok((out, client.subdomain))
    })
    .await??;
    stream_file(file, true, &format!("{subdomain}.vfexport")).await
}

/// Streams a file as the answer. With `unlink`, the file is removed once open (the descriptor keeps
/// its data until sent), so nothing of it stays on disk whatever happens to the connection.
async fn stream_file(path: PathBuf, unlink: bool, download_name: &str) -> Result<HttpResponse, AppError> {
    let (file, len) = web::block(move || -> Result<(std::fs::File, u64), AppError> {
        let file = std::fs::File::open(&path).map_err(|e| AppError::Internal(e.into()))?;
        let len = file.metadata().map_err(|e| AppError::Internal(e.into()))?.len();
        if unlink {
            let _ = std::fs::remove_file(&path);
        }
        Ok((file, len))
    })
    .await??;
    let file = std::sync::Arc::new(parking_lot::Mutex::new(file));
    let chunks = futures_util::stream::unfold(file, |file| async move {
        let reader = std::sync::Arc::clone(&file);
        let chunk = web::block(move || {
            use std::io::Read as _;
            let mut buf = vec![0u8; 256 * 1024];
            let n = reader.lock().read(&mut buf)?;
            buf.truncate(n);
            Ok::<_, std::io::Error>(buf)
        })
        .await;
        match chunk {
            Ok(Ok(buf)) if buf.is_empty() => None,
            Ok(Ok(buf)) => Some((Ok::<_, std::io::Error>(web::Bytes::from(buf)), file)),
            Ok(Err(e)) => Some((Err(e), file)),
            Err(e) => Some((Err(std::io::Error::other(e.to_string())), file)),
        }
    });
    Ok(HttpResponse::Ok()
        .content_type(SQLITE)
        .insert_header(("Content-Disposition", format!("attachment; filename=\"{download_name}\"")))
        .body(actix_web::body::SizedStream::new(len, chunks.boxed_local())))
}

#[derive(Deserialize)]
struct ImportQuery {
    subdomain: Option<String>,
}

async fn import(
    state: web::Data<AppState>,
    _: SuperAdmin,
    req: HttpRequest,
    q: web::Query<ImportQuery>,
    mut payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    let limit = state.settings.import_max_bytes;
    let idle = state.settings.body_timeout;
    let upload = transfer::new_upload_path(&state.settings.data_dir).map_err(|e| AppError::Internal(e.into()))?;
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let too_large = || AppError::PayloadTooLarge { limit: limit as usize };
    if declared.is_some_and(|n| n > limit) {
        crate::body::park_unread(&req, payload.into_inner());
        return Err(too_large());
    }
    // Each chunk must arrive within the body timeout (a slow upload of a big shop is fine, a stalled one is not).
    let mut file = std::fs::File::create(&upload).map_err(|e| AppError::Internal(e.into()))?;
    let mut written = 0u64;
    let received: Result<(), AppError> = loop {
        match actix_web::rt::time::timeout(idle, payload.next()).await {
            Err(_) => break Err(AppError::RequestTimeout { secs: idle.as_secs() }),
            Ok(None) => break Ok(()),
            Ok(Some(Err(e))) => {
                break Err(AppError::bad_request("malformed_body", format!("the upload could not be read: {e}")));
            }
            Ok(Some(Ok(chunk))) => {
                written += chunk.len() as u64;
                if written > limit {
                    break Err(too_large());
                }
                use std::io::Write as _;
                if let Err(e) = file.write_all(&chunk) {
                    break Err(AppError::Internal(anyhow::Error::new(e).context("writing the upload")));
                }
            }
        }
    };
    drop(file);
    if let Err(e) = received {
        let _ = std::fs::remove_file(&upload);
        if matches!(e, AppError::PayloadTooLarge { .. } | AppError::RequestTimeout { .. }) {
            crate::body::park_unread(&req, payload.into_inner());
        }
        return Err(e);
    }
    let (tenancy, main) = (state.tenancy.clone(), state.main.clone());
    let subdomain = q.into_inner().subdomain;
    let imported = web::block(move || {
        let result = main
            .get()
            .and_then(|mut conn| transfer::import_client(&tenancy, &mut conn, &upload, subdomain.as_deref(), limit));
        let _ = crate::tenancy::files::remove_family(&upload);
        result
    })
    .await??;
    Ok(HttpResponse::Created().json(imported))
}
