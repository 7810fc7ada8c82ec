//! Signing keys and API clients, on SQLite and PostgreSQL alike.

use podium_domain::ports::{AccessRepository, ApiClientRecord, RepoError, StoredSigningKey};
use podium_domain::timing::Timestamp;
use podium_persistence::{testing, SeaRepository};

async fn repo() -> SeaRepository {
    SeaRepository::new(testing::fresh_database().await.expect("test database"))
        .await
        .unwrap()
}

fn key(kid: &str, at: i64) -> StoredSigningKey {
    StoredSigningKey {
        kid: kid.into(),
        seed: "00".repeat(32),
        created_at: Timestamp(at),
        retired_at: None,
    }
}

#[tokio::test]
async fn rotation_retires_the_previous_keys_and_pruning_drops_only_old_retired_ones() {
    let repo = repo().await;
    repo.rotate_signing_key(key("a", 1_000)).await.unwrap();
    repo.rotate_signing_key(key("b", 2_000)).await.unwrap();
    let keys = repo.signing_keys().await.unwrap();
    assert_eq!(
        keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
        ["b", "a"]
    );
    assert_eq!(keys[0].retired_at, None);
    assert_eq!(keys[1].retired_at, Some(Timestamp(2_000)));
    assert!(matches!(
        repo.rotate_signing_key(key("b", 3_000)).await,
        Err(RepoError::Duplicate(_))
    ));
    assert_eq!(repo.prune_signing_keys(Timestamp(1_500)).await.unwrap(), 0);
    assert_eq!(repo.prune_signing_keys(Timestamp(2_500)).await.unwrap(), 1);
    assert_eq!(repo.signing_keys().await.unwrap().len(), 1);
}

#[tokio::test]
async fn api_clients_are_stored_listed_and_revoked_once() {
    let repo = repo().await;
    let client = ApiClientRecord {
        client_id: "pc_1".into(),
        name: "Timing partner".into(),
        secret_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        scopes: "results:read timing:write".into(),
        tier: "pro".into(),
        venue_id: Some(uuid::Uuid::new_v4()),
        created_by: "dev-admin".into(),
        created_at: Timestamp(1_000),
        revoked_at: None,
    };
    repo.create_api_client(client.clone()).await.unwrap();
    assert!(matches!(
        repo.create_api_client(client.clone()).await,
        Err(RepoError::Duplicate(_))
    ));
    assert_eq!(repo.api_client("pc_1").await.unwrap(), Some(client.clone()));
    assert_eq!(repo.api_clients().await.unwrap().len(), 1);
    assert!(repo.revoked_clients().await.unwrap().is_empty());
    let revoked = repo
        .revoke_api_client("pc_1", Timestamp(5_000))
        .await
        .unwrap();
    assert_eq!(revoked.revoked_at, Some(Timestamp(5_000)));
    assert_eq!(repo.revoked_clients().await.unwrap(), ["pc_1"]);
    let again = repo
        .revoke_api_client("pc_1", Timestamp(9_000))
        .await
        .unwrap();
    assert_eq!(again.revoked_at, Some(Timestamp(5_000)));
    assert!(matches!(
        repo.revoke_api_client("nobody", Timestamp(1)).await,
        Err(RepoError::NotFound(_))
    ));
}
