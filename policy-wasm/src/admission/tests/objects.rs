//! Issue 8, item 12: a Pod CREATE whose `object` was `null` was answered `allowed: true`. Every
//! operation that brings an object must bring one that can be read, whatever the kind; only
//! DELETE, CONNECT and subresources other than `ephemeralcontainers` carry none to check.

use super::*;

fn request(kind: &str, operation: Option<&str>, object: Option<Value>) -> Vec<u8> {
    let mut request = json!({
        "uid": "u-1",
        "kind": {"group": "", "version": "v1", "kind": kind},
        "namespace": "ns",
    });
    if let Some(operation) = operation {
        request["operation"] = json!(operation);
    }
    if let Some(object) = object {
        request["object"] = object;
    }
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request
    }))
    .unwrap()
}

#[test]
fn objects_that_cannot_be_read_are_denied_for_every_operation_and_kind() {
    let garbage: Vec<(&str, Option<Value>)> = vec![
        ("missing", None),
        ("null", Some(Value::Null)),
        ("a string", Some(json!("pod"))),
        ("a number", Some(json!(42))),
        ("a boolean", Some(json!(true))),
        ("a list", Some(json!([{"spec": {}}]))),
        ("empty", Some(json!({}))),
        ("null spec", Some(json!({"spec": null}))),
        (
            "null template",
            Some(json!({"spec": {"template": null, "jobTemplate": null}})),
        ),
        ("no containers", Some(json!({"spec": {"containers": []}}))),
        (
            "containers not a list",
            Some(json!({"spec": {"containers": "nginx"}})),
        ),
        (
            "another kind's shape",
            Some(
                json!({"kind": "Namespace", "spec": {"containers": [{"name": "a", "image": SIGNED}]}}),
            ),
        ),
    ];
    let mut cells = 0;
    for kind in ["Pod", "Deployment", "CronJob", "Job", "Secret", ""] {
        for operation in [
            Some("CREATE"),
            Some("UPDATE"),
            Some(""),
            Some("PATCH"),
            None,
        ] {
            for (what, object) in &garbage {
                cells += 1;
                let cell = format!("{kind:?} {operation:?} with a {what} object");
                match Review::parse(&request(kind, operation, object.clone())) {
                    Err(AdmissionError::Object { uid, message }) => {
                        assert_eq!(uid, "u-1", "{cell}");
                        let response = review_error(&uid, &message);
                        assert_eq!(response["response"]["allowed"], false, "{cell}");
                        assert_eq!(response["response"]["uid"], "u-1", "{cell}");
                    }
                    other => panic!("{cell}: {other:?}"),
                }
            }
        }
    }
    assert_eq!(cells, 6 * 5 * 12);
}

#[test]
fn a_missing_object_names_what_is_missing() {
    for (object, word) in [(None, "missing"), (Some(Value::Null), "null")] {
        let Err(AdmissionError::Object { message, .. }) =
            Review::parse(&request("Pod", Some("CREATE"), object))
        else {
            panic!("a Pod CREATE without an object was accepted");
        };
        assert!(
            message.contains(&format!("request.object is {word}")),
            "{message}"
        );
        assert!(message.contains("cannot be checked"), "{message}");
    }
}

#[test]
fn operations_without_an_object_to_admit_have_no_images() {
    for operation in ["DELETE", "CONNECT"] {
        for object in [None, Some(Value::Null)] {
            let review = Review::parse(&request("Pod", Some(operation), object)).unwrap();
            assert!(review.sites.is_empty(), "{operation}");
        }
    }
    let mut status: Value = serde_json::from_slice(&request("Pod", Some("UPDATE"), None)).unwrap();
    status["request"]["subResource"] = json!("status");
    let review = Review::parse(&serde_json::to_vec(&status).unwrap()).unwrap();
    assert!(review.sites.is_empty());
    // `ephemeralcontainers` adds images: it needs its object like any UPDATE.
    status["request"]["subResource"] = json!("ephemeralcontainers");
    assert!(matches!(
        Review::parse(&serde_json::to_vec(&status).unwrap()),
        Err(AdmissionError::Object { .. })
    ));
}
