//! The server binary: configuration, logging, database, then serve until Ctrl-C.

use clap::Parser;
use leptos::config::get_configuration;
use speckle_tokens::server::config::Config;
use speckle_tokens::server::db::DbPool;
use speckle_tokens::server::http::{router, spawn_session_cleanup};
use speckle_tokens::server::state::AppState;

/// glibc's allocator keeps a heap per thread and returns little of it: with many blocking
/// threads (SQLite queries) the server grew to hundreds of MB under load. mimalloc returns
/// freed memory to the system; built without transparent huge pages (`no_thp`), since memory
/// freed inside a 2 MB page cannot be returned (object uploads held 30 MB more that way).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (its place in `mi_option_t` in mimalloc.h; the Rust
/// bindings name no constant for it).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() {
    // Give freed memory back at once rather than after a second: a server's peak memory is
    // what sizes its machine (object uploads peaked 50 MB lower this way, no slower).
    // mimalloc's own `MIMALLOC_PURGE_DELAY` (milliseconds), when set, says otherwise.
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: mimalloc's API lets options be set at any time, from any thread.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    }
    let config = Config::parse();
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::new(&config.log)).init();
    if std::env::var_os("LEPTOS_OUTPUT_NAME").is_none() && option_env!("LEPTOS_OUTPUT_NAME").is_none() {
        // Built without cargo-leptos (e.g. plain `cargo build --features ssr`).
        std::env::set_var("LEPTOS_OUTPUT_NAME", "speckle-tokens");
    }
    // Blocking threads run SQLite queries and password hashes; both are bounded elsewhere
    // (pool size, hashing semaphore), so a few dozen threads are plenty.
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().max_blocking_threads(32).build();
    let runtime = runtime.unwrap_or_else(|error| exit(&format!("cannot start the runtime: {error}")));
    runtime.block_on(serve(config));
}

async fn serve(config: Config) {
    let leptos =
        get_configuration(None).unwrap_or_else(|error| exit(&format!("leptos configuration: {error}")));
    let mut options = leptos.leptos_options;
    if let Some(listen) = config.listen {
        options.site_addr = listen;
    }
    let addr = options.site_addr;
    // A release build (`hash-files`) leaves the names of /pkg's files beside the binary.
    let hash_file =
        std::env::current_exe().ok().and_then(|exe| Some(exe.parent()?.join(&*options.hash_file)));
    options.hash_files = hash_file.is_some_and(|file| file.exists());
    let plain_js = format!("{}/{}/{}.js", options.site_root, options.site_pkg_dir, options.output_name);
    if !options.hash_files && !std::path::Path::new(&plain_js).exists() {
        tracing::error!(
            "no {} beside the binary and no {plain_js}: pages will not hydrate. Keep the binary \
             and the hash.txt the build wrote beside it together.",
            options.hash_file
        );
    }

    let db = DbPool::connect_with_cache(&config.database_url, config.read_cache_entries)
        .await
        .unwrap_or_else(|error| exit(&format!("database: {error}")));
    spawn_session_cleanup(db.clone());
    let installed = match db.get().await {
        Ok(mut conn) => speckle_tokens::server::domain::apps::install_defaults(&mut conn).await,
        Err(error) => Err(error),
    };
    installed.unwrap_or_else(|error| exit(&format!("Speckle's default apps: {error}")));
    let mailer = config.mailer().unwrap_or_else(|error| exit(&error));
    if mailer.is_none() {
        tracing::info!("no SMTP_URL and MAIL_FROM: expiry warnings are shown on /profile only");
    }
    let every = std::time::Duration::from_secs(config.lifecycle_interval_secs.max(1));
    speckle_tokens::server::domain::lifecycle::spawn(db.clone(), mailer.clone(), every);
    let state = AppState::new(db, options, config.secure_cookies, config.throttles())
        .with_trusted_proxies(config.trusted_proxies.clone().reading(config.forwarded_header))
        .with_mailer(mailer)
        .with_public_url(config.public_url.clone())
        .with_scanning_keys_url(&config.secret_scanning_keys_url);
    let app = router(state);

    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .unwrap_or_else(|error| exit(&format!("cannot listen on {addr}: {error}")));
    tracing::info!("listening on http://{addr}");
    let shutdown = async {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let terminated = async {
            match terminate.as_mut() {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = terminated => {}
        }
    };
    speckle_tokens::server::http::listen::serve(listener, app, config.connection_limits(), shutdown).await;
}

fn exit(message: &str) -> ! {
    eprintln!("speckle-tokens: {message}");
    std::process::exit(1);
}
