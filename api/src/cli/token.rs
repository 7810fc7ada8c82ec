//! `podium token`: mints a development access token.

use crate::auth::{dev_claims, Authenticator, Role};
use crate::config::Settings;
use uuid::Uuid;

#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    #[arg(long, value_enum)]
    pub role: Role,
    /// Venue a venue_operator may manage (repeatable).
    #[arg(long = "venue")]
    pub venues: Vec<Uuid>,
    /// Athlete id for the athlete role.
    #[arg(long)]
    pub athlete: Option<Uuid>,
    /// Subject (`sub`); defaults to `dev-<role>`.
    #[arg(long)]
    pub sub: Option<String>,
    /// Lifetime in hours.
    #[arg(long, default_value_t = 24)]
    pub ttl_hours: i64,
}

/// Mints a development token with the keys of `settings`' data directory.
pub fn mint_token(settings: &Settings, args: &TokenArgs) -> anyhow::Result<String> {
    if args.role == Role::VenueOperator && args.venues.is_empty() {
        anyhow::bail!("a venue_operator token needs at least one --venue <id>");
    }
    if args.ttl_hours <= 0 || args.ttl_hours > 24 * 30 {
        anyhow::bail!("--ttl-hours must be between 1 and 720");
    }
    if !settings.dev_tokens() {
        anyhow::bail!(
            "development tokens are off (production mode); set dev_tokens = true to mint them"
        );
    }
    let auth = Authenticator::new(settings)?;
    let claims = dev_claims(
        args.role,
        args.sub.clone(),
        args.venues.clone(),
        args.athlete,
    );
    auth.mint_dev(claims, chrono::Duration::hours(args.ttl_hours))
}

pub fn run(settings: &Settings, args: &TokenArgs) -> anyhow::Result<()> {
    println!("{}", mint_token(settings, args)?);
    Ok(())
}
