//! Prediction model versions on SQLite and PostgreSQL: every version keeps its references,
//! exactly one is active, each activation is recorded with who and why, and a version stored
//! without references (by a release before they were kept) cannot be activated.

use podium_domain::division::{Category, Division, Gender};
use podium_domain::ports::{ModelActivation, PredictionRepository, RepoError, StoredModel};
use podium_domain::prediction::Reference;
use podium_domain::timing::Timestamp;
use podium_persistence::{testing, SeaRepository};

fn model(references: Option<Vec<Reference>>) -> StoredModel {
    StoredModel {
        version: 0,
        course: "HYROX_STANDARD".into(),
        trained_at: Timestamp(1_760_000_000_000),
        events: vec![uuid::Uuid::new_v4()],
        results: 1,
        metrics: vec![],
        calibration: vec![1.0; 3],
        repeat_changes: vec![0.01],
        active: false,
        references,
    }
}

fn activation(version: i64, actor: &str, reason: &str, at: i64) -> ModelActivation {
    ModelActivation {
        version,
        at: Timestamp(at),
        actor: actor.into(),
        reason: reason.into(),
    }
}

#[tokio::test]
async fn any_version_with_its_references_can_be_activated_and_each_activation_is_recorded() {
    let repo = SeaRepository::new(testing::fresh_database().await.unwrap())
        .await
        .unwrap();
    let references = vec![Reference {
        event: 0,
        division: Division {
            category: Category::Open,
            gender: Gender::Men,
        },
        elapsed: vec![Some(0), Some(300_000), Some(3_900_000)],
        started_ms: None,
    }];
    // A version as the last release stored it once another became active: no references.
    let old = repo
        .save_prediction_model(&model(None), None)
        .await
        .unwrap();
    let v1 = repo
        .save_prediction_model(
            &model(Some(references.clone())),
            Some(&activation(0, "podium", "trained: the first version", 1)),
        )
        .await
        .unwrap();
    let v2 = repo
        .save_prediction_model(&model(Some(references.clone())), None)
        .await
        .unwrap();
    let active = |repo: SeaRepository| async move {
        repo.active_prediction_model("HYROX_STANDARD")
            .await
            .unwrap()
            .unwrap()
    };
    assert_eq!(active(repo.clone()).await.version, v1);

    let promoted = repo
        .activate_prediction_model("HYROX_STANDARD", &activation(v2, "admin-1", "promote", 2))
        .await
        .unwrap();
    assert_eq!(promoted.version, v2);
    assert_eq!(promoted.references.as_deref(), Some(&references[..]));
    let now = active(repo.clone()).await;
    assert_eq!(now.version, v2);
    // The version that stopped predicting kept its references: it can come back as it was.
    let back = repo
        .activate_prediction_model("HYROX_STANDARD", &activation(v1, "admin-2", "roll back", 3))
        .await
        .unwrap();
    assert_eq!(back.references.as_deref(), Some(&references[..]));
    let models = repo.prediction_models("HYROX_STANDARD").await.unwrap();
    assert_eq!(models.iter().filter(|m| m.active).count(), 1);
    assert_eq!(
        repo.prediction_model_activations("HYROX_STANDARD")
            .await
            .unwrap(),
        vec![
            activation(v1, "admin-2", "roll back", 3),
            activation(v2, "admin-1", "promote", 2),
            activation(v1, "podium", "trained: the first version", 1),
        ]
    );

    let refused = repo
        .activate_prediction_model("HYROX_STANDARD", &activation(old, "admin-1", "x", 4))
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, RepoError::Conflict(m) if m.contains("without its references")),
        "{refused:?}"
    );
    let unknown = repo
        .activate_prediction_model("HYROX_STANDARD", &activation(999, "admin-1", "x", 4))
        .await
        .unwrap_err();
    assert!(matches!(unknown, RepoError::NotFound(_)), "{unknown:?}");
    assert_eq!(active(repo).await.version, v1, "a refusal changes nothing");
}
