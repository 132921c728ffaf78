//! `DiscoveryRecord::from_cbor` / `from_json` take any bytes: what decodes re-encodes to itself
//! (CBOR byte for byte), both forms round-trip, and validation at a fixed `now` never panics and
//! gives the same verdict alone and in a batch. (A fuzzer cannot forge signatures; the seed
//! corpus holds signed records so the signature checks run.)
#![no_main]

use libfuzzer_sys::fuzz_target;
use talos_crypto::Timestamp;
use talos_did::record::{DiscoveryRecord, Policy, validate_batch};

fuzz_target!(|data: &[u8]| {
    if let Ok(record) = DiscoveryRecord::from_cbor(data) {
        assert_eq!(record.to_cbor(), data);
        check(&record);
    }
    if let Ok(record) = DiscoveryRecord::from_json(data) {
        check(&record);
    }
});

fn check(record: &DiscoveryRecord) {
    let json = record.to_json();
    assert_eq!(json.len(), record.encoded_len());
    assert_eq!(DiscoveryRecord::from_json(&json).as_ref(), Ok(record));
    assert_eq!(
        DiscoveryRecord::from_cbor(&record.to_cbor()).as_ref(),
        Ok(record)
    );
    let now = Timestamp::from_millis(1_768_178_601_000);
    let mut puzzled = Policy::default();
    puzzled.set_puzzle_difficulty(Some(4));
    for policy in [Policy::default(), puzzled] {
        let single = record.validate(now, &policy).map(|_| ());
        let batch = validate_batch(core::slice::from_ref(record), now, &policy);
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].as_ref().map(|_| ()).map_err(Clone::clone), single);
    }
}
