//! Which shop a request is for. Signals are checked in the order API.md gives: the signed-in
//! user's client, the subdomain, the custom domain, the `client` parameter or `X-Client` header,
//! then the session cookie. The first that names a shop wins; a later one that names a different
//! shop (or none) fails the request with 403 `tenant_mismatch`.

use std::sync::Arc;

use actix_session::SessionExt;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::future::LocalBoxFuture;

use super::directory::ClientKey;
use super::names::{HostSignal, Subdomain, parse_host};
use super::pools::ClientDb;
use super::registry::{Client, ClientStatus};
use crate::auth::Caller;
use crate::auth::caller::bearer_token;
use crate::error::AppError;
use crate::state::AppState;

/// Session key remembering the shop a `client` parameter selected.
pub const SESSION_CLIENT_KEY: &str = "client_id";

/// A tenant signal as the client sent it, before any lookup.
#[derive(Debug, Clone)]
enum Signal {
    /// Names a shop by this key.
    Names(ClientKey),
    /// Names something that cannot be a shop (a malformed subdomain or parameter).
    Invalid,
}

/// Everything the request says about its shop, read without touching a database.
#[derive(Debug, Clone, Default)]
pub struct Signals {
    token: Option<String>,
    /// With a token: the request's method and route, for an API token's abilities.
    route: Option<(actix_web::http::Method, Option<String>)>,
    subdomain: Option<Signal>,
    domain: Option<String>,
    parameter: Vec<Signal>,
    session: Option<i64>,
}

/// A `client` parameter or `X-Client` value, exactly as sent: digits are an id (no sign, no
/// leading zero, no spaces: `+1`, `01` and ` 1` name nothing), anything else a subdomain.
fn parse_reference(raw: &str) -> Signal {
    if !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) {
        if raw.starts_with('0') || raw.len() > 18 {
            return Signal::Invalid;
        }
        return raw.parse().map_or(Signal::Invalid, |id| Signal::Names(ClientKey::Id(id)));
    }
    match Subdomain::from_signal(raw) {
        Ok(s) => Signal::Names(ClientKey::Subdomain(s.as_str().to_string())),
        Err(_) => Signal::Invalid,
    }
}

impl Signals {
    pub fn read(req: &HttpRequest, state: &AppState) -> Result<Self, AppError> {
        let mut signals = Signals { token: bearer_token(req)?, ..Default::default() };
        if signals.token.is_some() {
            signals.route = Some((req.method().clone(), req.match_pattern()));
        }
        if let Some(host) = crate::proxy::request_host(req, &state.settings) {
            match parse_host(&host, &state.settings.base_domain) {
                HostSignal::None => {}
                HostSignal::Subdomain(label) => {
                    signals.subdomain = Some(match Subdomain::from_signal(&label) {
                        Ok(s) => Signal::Names(ClientKey::Subdomain(s.as_str().to_string())),
                        Err(_) => Signal::Invalid,
                    })
                }
                HostSignal::Domain(name) => signals.domain = Some(name),
            }
        }
        if let Ok(query) = web::Query::<Vec<(String, String)>>::from_query(req.query_string()) {
            for (_, v) in query.iter().filter(|(k, _)| k == "client") {
                signals.parameter.push(parse_reference(v));
            }
        }
        let mut headers = req.headers().get_all("x-client");
        if let Some(h) = headers.next() {
            if headers.next().is_some() {
                return Err(AppError::bad_request("repeated_client_header", "send the X-Client header once"));
            }
            signals.parameter.push(h.to_str().map_or(Signal::Invalid, parse_reference));
        }
        signals.session = req.get_session().get::<i64>(SESSION_CLIENT_KEY).ok().flatten();
        Ok(signals)
    }
}

/// Why a lookup could not answer.
enum Unanswered {
    /// The cache does not know; ask again with the registry.
    NeedsRegistry,
    Failed(AppError),
}

impl From<AppError> for Unanswered {
    fn from(e: AppError) -> Self {
        Unanswered::Failed(e)
    }
}

/// What a lookup found: the shop, no shop, or no answer.
type Lookup = Result<Option<Arc<Client>>, Unanswered>;

/// Applies the resolution rules, looking shops up through `lookup`.
fn choose(
    signals: &Signals,
    caller: &Caller,
    lookup: &mut impl FnMut(&ClientKey) -> Lookup,
) -> Result<Arc<Client>, Unanswered> {
    let mut ordered: Vec<Signal> = Vec::new();
    if let Some(id) = caller.client_id() {
        ordered.push(Signal::Names(ClientKey::Id(id)));
    }
    ordered.extend(signals.subdomain.clone());
    if let Some(domain) = &signals.domain {
        // An unknown host is no signal at all (the machine's own name, say); a known one is.
        let key = ClientKey::Domain(domain.clone());
        if lookup(&key)?.is_some() {
            ordered.push(Signal::Names(key));
        }
    }
    ordered.extend(signals.parameter.iter().cloned());
    ordered.extend(signals.session.map(|id| Signal::Names(ClientKey::Id(id))));

    let mut winner: Option<Arc<Client>> = None;
    for signal in &ordered {
        let found = match signal {
            Signal::Names(key) => lookup(key)?,
            Signal::Invalid => None,
        };
        match (&winner, found) {
            (None, Some(client)) => winner = Some(client),
            (None, None) => return Err(AppError::not_found("client_not_found", "no shop by that name").into()),
            (Some(w), Some(c)) if c.id == w.id => {}
            (Some(_), _) => {
                return Err(AppError::forbidden("tenant_mismatch", "this request names more than one shop").into());
            }
        }
    }
    winner.ok_or_else(|| {
        AppError::not_found(
            "client_not_found",
            "this request names no shop: use its subdomain, custom domain or the client parameter",
        )
        .into()
    })
}

/// Resolves from the cache alone, without blocking: `None` when the registry must be asked (a
/// token to check, or a shop not cached).
pub fn resolve_cached(
    state: &AppState,
    signals: &Signals,
    caller: Option<Caller>,
) -> Option<Result<(Caller, Arc<Client>), AppError>> {
    let caller = match caller {
        Some(c) => c,
        None if signals.token.is_none() => Caller::Anonymous,
        None => return None,
    };
    let mut lookup = |key: &ClientKey| match state.tenancy.directory.cached(key) {
        Some(hit) => Ok(Some(hit)),
        None => Err(Unanswered::NeedsRegistry),
    };
    match choose(signals, &caller, &mut lookup) {
        Ok(client) => Some(Ok((caller, client))),
        Err(Unanswered::Failed(e)) => Some(Err(e)),
        Err(Unanswered::NeedsRegistry) => None,
    }
}

/// Resolves the signals against the registry (blocking). `caller` is reused when the request
/// already has it.
pub fn resolve(state: &AppState, signals: &Signals, caller: Option<Caller>) -> Result<(Caller, Arc<Client>), AppError> {
    let caller = match caller {
        Some(c) => c,
        None if signals.token.is_none() => Caller::Anonymous,
        None => {
            let (caller, abilities) =
                crate::auth::caller::identify_with_abilities(&*state.main.get()?, signals.token.as_deref())?;
            if let (Some(abilities), Some((method, pattern))) = (abilities, &signals.route) {
                crate::auth::api_tokens::allow(&abilities, method, pattern.as_deref())?;
            }
            caller
        }
    };
    let mut conn = None;
    let mut lookup = |key: &ClientKey| -> Lookup {
        if let Some(hit) = state.tenancy.directory.cached(key) {
            return Ok(Some(hit));
        }
        if conn.is_none() {
            conn = Some(state.main.get()?);
        }
        Ok(state.tenancy.directory.lookup(conn.as_ref().expect("set above"), key).map_err(AppError::from)?)
    };
    match choose(signals, &caller, &mut lookup) {
        Ok(client) => Ok((caller, client)),
        Err(Unanswered::Failed(e)) => Err(e),
        Err(Unanswered::NeedsRegistry) => unreachable!("the registry lookup always answers"),
    }
}

/// The shop a request is for, checked against the caller, with its database.
#[derive(Clone)]
pub struct Shop {
    pub client: Arc<Client>,
    pub caller: Caller,
    pub db: ClientDb,
}

impl FromRequest for Shop {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            if let Some(shop) = req.extensions().get::<Shop>() {
                return Ok(shop.clone());
            }
            let state = req.app_data::<web::Data<AppState>>().expect("AppState is registered").clone();
            let signals = Signals::read(&req, &state)?;
            let known_caller = req.extensions().get::<Caller>().cloned();
            let from_parameter = !signals.parameter.is_empty();
            let (caller, client) = match resolve_cached(&state, &signals, known_caller.clone()) {
                Some(resolved) => resolved?,
                None => {
                    let state = state.clone();
                    web::block(move || resolve(&state, &signals, known_caller)).await??
                }
            };
            tracing::Span::current().record("client_id", client.id);
            if client.status != ClientStatus::Active {
                return Err(AppError::unavailable(
                    "client_unavailable",
                    format!("this shop is {}", client.status.as_str()),
                ));
            }
            let client = match crate::fleet::gate(&client)? {
                crate::fleet::Gate::Serve => client,
                crate::fleet::Gate::Migrate => {
                    // Migrate on first open, then serve (see `fleet` for the policy).
                    let state = state.clone();
                    let id = client.id;
                    web::block(move || -> Result<Arc<Client>, AppError> {
                        let main = state.main.get()?;
                        crate::fleet::migrate::migrate_one(&state.tenancy, &main, id).map_err(|e| {
                            tracing::error!(client_id = id, error = %e, "migration on first open failed");
                            AppError::unavailable(
                                "client_unavailable",
                                "this shop's data could not be upgraded to this server's version; the operator has been told",
                            )
                        })?;
                        state
                            .tenancy
                            .directory
                            .lookup(&main, &ClientKey::Id(id))?
                            .ok_or_else(|| AppError::not_found("client_not_found", "no shop by that name"))
                    })
                    .await??
                }
            };
            let db = state.tenancy.pools.checkout(client.id)?;
            // The shop's request rate, before any query for it.
            let rps = client.quotas.requests_per_second.map(|r| r.clamp(1, u32::MAX.into()) as u32);
            if let Some(rps) = rps.or(state.settings.shop_rps) {
                db.pace().admit(rps)?;
            }
            if from_parameter {
                let _ = req.get_session().insert(SESSION_CLIENT_KEY, client.id);
            }
            let shop = Shop { client, caller: caller.clone(), db };
            req.extensions_mut().insert(caller);
            req.extensions_mut().insert(shop.clone());
            Ok(shop)
        })
    }
}

/// A shop request from that shop's admin, or from a super admin addressing the shop.
pub struct ShopAdmin(pub Shop);

impl FromRequest for ShopAdmin {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let caller = Caller::from_request(req, payload);
        let shop = Shop::from_request(req, payload);
        Box::pin(async move {
            match caller.await? {
                Caller::Anonymous => return Err(AppError::Unauthorized("sign in first".into())),
                Caller::Customer { .. } => {
                    return Err(AppError::forbidden("forbidden", "shop administration needs an admin account"));
                }
                Caller::Admin { .. } | Caller::SuperAdmin { .. } => {}
            }
            Ok(ShopAdmin(shop.await?))
        })
    }
}

/// A shop request from one of that shop's signed-in customers.
pub struct ShopCustomer {
    pub shop: Shop,
    pub customer_id: i64,
}

impl FromRequest for ShopCustomer {
    type Error = AppError;
    type Future = LocalBoxFuture<'static, Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let shop = Shop::from_request(req, payload);
        Box::pin(async move {
            let shop = shop.await?;
            match shop.caller {
                Caller::Customer { customer_id, .. } => Ok(ShopCustomer { customer_id, shop }),
                Caller::Anonymous => Err(AppError::Unauthorized("sign in first".into())),
                _ => Err(AppError::forbidden("forbidden", "this is for the shop's customers")),
            }
        })
    }
}
