//! The web UI's routes: its static assets under a strict Content-Security-Policy, and the
//! account endpoints the browser logs in with (see `ehrchain_node::accounts`).

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ehrchain_crypto::{EncryptionKey, Hash};
use ehrchain_ledger::{StateRead, StateView};
use ehrchain_node::accounts::{Account, AccountError, AccountKind, NewAccount};
use ehrchain_types::{AgentId, Canonical, GrantState, Grantee, OrgId, Role};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::dto;
use crate::error::ApiError;
use crate::routes::{AppState, SignedBody, Signer};

/// The UI and account routes, merged into [`crate::app`].
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { ui_asset("index.html") }))
        .route(
            "/ui/{file}",
            get(|Path(f): Path<String>| async move { ui_asset(&f) }),
        )
        .route("/v1/accounts/login-params", get(login_params))
        .route("/v1/accounts/login", post(login))
        .route("/v1/accounts/patient", post(create_patient))
        .route("/v1/accounts/staff", post(request_staff))
        .route("/v1/accounts/staff-requests", get(staff_requests))
        .route(
            "/v1/accounts/staff-requests/{login}/approve",
            post(approve_staff),
        )
        .route(
            "/v1/accounts/staff-requests/{login}/decline",
            post(decline_staff),
        )
        .route("/v1/agents/{id}/patients", get(agent_patients))
        .route("/v1/organisations/{id}/agents", get(organisation_agents))
}

/// The staff of an organisation, as registered on the ledger (public, like `/v1/agents/{id}`).
async fn organisation_agents(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let org: OrgId = parse(&id, "organisation id")?;
    let snap = s.node.snapshot()?;
    let agents: Vec<Value> = snap
        .scan(&[ehrchain_ledger::keys::AGENT], 100_000)?
        .into_iter()
        .filter_map(|(_, v)| ehrchain_types::AgentState::from_trusted_bytes(&v).ok())
        .filter(|a| a.org == org)
        .map(|a| dto::agent(&a))
        .collect();
    Ok(Json(json!({"agents": agents})))
}

fn ui_asset(path: &str) -> Response {
    let Some(a) = ehrchain_web::asset(path) else {
        return ApiError::not_found("no such page; start at /").into_response();
    };
    let mut resp = Response::new(Body::from(a.body));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(a.content_type),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(ehrchain_web::CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        let msg = e.to_string();
        match e {
            AccountError::BadLogin => Self::bad_request("bad_login", msg),
            AccountError::Taken => Self::new(StatusCode::CONFLICT, "login_taken", msg),
            AccountError::Invalid(_) => Self::bad_request("invalid", msg),
            AccountError::BadCredentials => {
                Self::new(StatusCode::UNAUTHORIZED, "bad_credentials", msg)
            }
            AccountError::Locked => Self::new(StatusCode::TOO_MANY_REQUESTS, "locked", msg),
            AccountError::Pending => Self::new(StatusCode::FORBIDDEN, "pending_approval", msg),
            AccountError::Revoked => Self::new(StatusCode::FORBIDDEN, "revoked", msg),
            AccountError::NotAllowed => Self::forbidden(msg),
            AccountError::NotFound => Self::not_found(msg),
            other => Self::internal(other),
        }
    }
}

#[derive(Deserialize)]
struct NewAccountIn {
    login: String,
    encrypt_key: String,
    /// base64
    salt: String,
    iterations: u32,
    /// hex SHA-256 of the auth key
    verifier: String,
    /// base64
    backup: String,
    // staff only
    organisation: Option<String>,
    role: Option<String>,
    name: Option<String>,
    licence: Option<String>,
}

fn b64(s: &str, what: &'static str) -> Result<Vec<u8>, ApiError> {
    B64.decode(s)
        .map_err(|_| ApiError::bad_request("bad_base64", format!("{what} must be base64")))
}

fn parse<T: std::str::FromStr>(s: &str, what: &'static str) -> Result<T, ApiError>
where
    T::Err: std::fmt::Display,
{
    s.parse()
        .map_err(|e: T::Err| ApiError::bad_request("bad_parameter", format!("{what}: {e}")))
}

fn new_account(body: &[u8]) -> Result<(NewAccountIn, NewAccount), ApiError> {
    let input: NewAccountIn = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request("bad_json", e.to_string()))?;
    let account = NewAccount {
        login: input.login.clone(),
        encrypt_key: parse::<EncryptionKey>(&input.encrypt_key, "encrypt key")?,
        salt: b64(&input.salt, "salt")?,
        iterations: input.iterations,
        verifier: parse::<Hash>(&input.verifier, "verifier")?,
        backup: b64(&input.backup, "backup")?,
    };
    Ok((input, account))
}

async fn create_patient(
    State(s): State<AppState>,
    SignedBody { signer, body }: SignedBody,
) -> Result<Json<Value>, ApiError> {
    let (_, account) = new_account(&body)?;
    let pid = s.node.create_patient_account(&signer, account)?;
    Ok(Json(json!({"patient": pid.to_string()})))
}

async fn request_staff(
    State(s): State<AppState>,
    SignedBody { signer, body }: SignedBody,
) -> Result<Json<Value>, ApiError> {
    let (input, account) = new_account(&body)?;
    let org: OrgId = parse(input.organisation.as_deref().unwrap_or(""), "organisation")?;
    let role: Role = parse(input.role.as_deref().unwrap_or(""), "role")?;
    let login = account.login.clone();
    let secret = s.node.request_staff_account(
        &signer,
        account,
        org,
        role,
        input.name.as_deref().unwrap_or(""),
        input.licence.as_deref().unwrap_or(""),
    )?;
    let base32 = data_encoding::BASE32_NOPAD.encode(&secret);
    Ok(Json(json!({
        "agent": AgentId::of(&signer).to_string(),
        "status": "pending",
        "totp_secret": base32,
        "otpauth": format!("otpauth://totp/ehrchain:{login}?secret={base32}&issuer=ehrchain&algorithm=SHA1&digits=6&period=30"),
    })))
}

#[derive(Deserialize)]
struct LoginQuery {
    login: String,
}

async fn login_params(
    State(s): State<AppState>,
    Query(q): Query<LoginQuery>,
) -> Result<Json<Value>, ApiError> {
    let (salt, iterations) = s.node.login_params(&q.login)?;
    Ok(Json(
        json!({"salt": B64.encode(salt), "iterations": iterations}),
    ))
}

#[derive(Deserialize)]
struct LoginIn {
    login: String,
    /// base64 of the 32-byte auth key
    auth: String,
    totp: Option<String>,
}

fn account_json(a: &Account) -> Value {
    let mut v = json!({
        "login": a.login,
        "sign_key": a.sign_key.to_string(),
        "encrypt_key": a.encrypt_key.to_string(),
        "backup": B64.encode(&a.backup),
    });
    match &a.kind {
        AccountKind::Patient => {
            v["kind"] = json!("patient");
            v["patient"] = json!(ehrchain_types::PatientId::of(&a.sign_key).to_string());
        }
        AccountKind::Staff(st) => {
            v["kind"] = json!("staff");
            v["agent"] = json!(AgentId::of(&a.sign_key).to_string());
            v["organisation"] = json!(st.org.to_string());
            v["role"] = json!(st.role.as_str());
            v["name"] = json!(st.name);
        }
    }
    v
}

async fn login(
    State(s): State<AppState>,
    Json(input): Json<LoginIn>,
) -> Result<Json<Value>, ApiError> {
    let auth = b64(&input.auth, "auth")?;
    let totp = match input.totp.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(t) if t.len() == 6 => Some(parse::<u32>(t, "code")?),
        Some(_) => {
            return Err(ApiError::bad_request(
                "bad_code",
                "the code from your authenticator app has 6 digits",
            ))
        }
    };
    let account = s.node.login(&input.login, &auth, totp)?;
    Ok(Json(account_json(&account)))
}

async fn staff_requests(
    State(s): State<AppState>,
    Signer(who): Signer,
) -> Result<Json<Value>, ApiError> {
    let pending = s.node.pending_staff(&who)?;
    let out: Vec<Value> = pending
        .iter()
        .filter_map(|a| match &a.kind {
            AccountKind::Staff(st) => Some(json!({
                "login": a.login, "agent": AgentId::of(&a.sign_key).to_string(),
                "organisation": st.org.to_string(), "role": st.role.as_str(),
                "name": st.name, "licence": st.licence, "requested": a.created_ms,
            })),
            AccountKind::Patient => None,
        })
        .collect();
    Ok(Json(json!({"requests": out})))
}

async fn approve_staff(
    State(s): State<AppState>,
    Path(login): Path<String>,
    SignedBody { signer, .. }: SignedBody,
) -> Result<Json<Value>, ApiError> {
    let (agent, committed) = s.node.approve_staff(&signer, &login).await?;
    Ok(Json(
        json!({"agent": agent.to_string(), "receipt": dto::committed(&committed)}),
    ))
}

async fn decline_staff(
    State(s): State<AppState>,
    Path(login): Path<String>,
    SignedBody { signer, .. }: SignedBody,
) -> Result<StatusCode, ApiError> {
    s.node.decline_staff(&signer, &login)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Patients whose live grants name this agent, its organisation or its role there. Only the
/// agent itself may ask.
async fn agent_patients(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Signer(who): Signer,
) -> Result<Json<Value>, ApiError> {
    let aid: AgentId = parse(&id, "agent id")?;
    if AgentId::of(&who) != aid {
        return Err(ApiError::forbidden("only the agent may list its patients"));
    }
    let snap = s.node.snapshot()?;
    let Some(agent) = snap.agent(&aid)?.filter(|a| a.is_active()) else {
        return Err(ApiError::forbidden("not an active agent"));
    };
    let now = s.node.tip()?.map_or(s.node.genesis().time.0, |h| h.time.0);
    let mut by_patient: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    for (_, v) in snap.scan(&[ehrchain_ledger::keys::GRANT], 100_000)? {
        let Ok(g) = GrantState::from_bytes(&v) else {
            continue;
        };
        let covers = match g.grant.grantee {
            Grantee::Agent(a) => a == aid,
            Grantee::Organisation(o) => o == agent.org,
            Grantee::Role { org, role } => org == agent.org && role == agent.role,
        };
        if covers && g.is_live(ehrchain_types::Timestamp(now)) {
            by_patient
                .entry(g.patient.to_string())
                .or_default()
                .push(dto::grant(&g, now));
        }
    }
    let patients: Vec<Value> = by_patient
        .into_iter()
        .map(|(p, grants)| json!({"patient": p, "grants": grants}))
        .collect();
    Ok(Json(json!({"patients": patients})))
}
