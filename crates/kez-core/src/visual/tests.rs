use super::*;
use ed25519_dalek::SigningKey;

#[test]
fn xoshiro_matches_the_reference_implementation() {
    // Outputs of xoshiro256starstar.c from s = {1, 2, 3, 4} (also the
    // reference values in rand_xoshiro's tests).
    let mut rng = Xoshiro256StarStar::from_state([1, 2, 3, 4]);
    let expected: [u64; 10] = [
        11520,
        0,
        1_509_978_240,
        1_215_971_899_390_074_240,
        1_216_172_134_540_287_360,
        607_988_272_756_665_600,
        16_172_922_978_634_559_625,
        8_476_171_486_693_032_832,
        10_595_114_339_597_558_777,
        2_904_607_092_377_533_576,
    ];
    for want in expected {
        assert_eq!(rng.next_u64(), want);
    }
}

#[test]
fn an_all_zero_seed_starts_from_one() {
    let mut a = Xoshiro256StarStar::from_seed([0; 32]);
    let mut b = Xoshiro256StarStar::from_state([1, 0, 0, 0]);
    assert_eq!(a.next_u64(), b.next_u64());
    assert_eq!(a.next_u64(), b.next_u64());
}

#[test]
fn uniform_stays_in_range() {
    let mut rng = Xoshiro256StarStar::from_state([9, 8, 7, 6]);
    for max in [0u64, 1, 2, 6, 1000, u64::MAX - 1] {
        for _ in 0..50 {
            assert!(rng.uniform(max) <= max);
        }
    }
}

#[test]
fn scramble_inverts_and_moves_pixels() {
    let key = [7u8; 32];
    let salt = [3u8; 16];
    let rgb: Vec<u8> = (0..192u8).collect();
    let out = scramble(&rgb, &key, &salt).unwrap();
    assert_ne!(out, rgb);
    assert_eq!(unscramble(&out, &key, &salt).unwrap(), rgb);
    assert_ne!(
        scramble(&rgb, &key, &[4u8; 16]).unwrap(),
        out,
        "salt matters"
    );
    assert!(scramble(&rgb[..10], &key, &salt).is_none());
    let mut p = permutation(64, &key, &salt);
    p.sort_unstable();
    assert_eq!(p, (0..64).collect::<Vec<_>>());
}

#[test]
fn a_wrap_opens_only_for_its_recipient() {
    let alice = SigningKey::from_bytes(&[1; 32]);
    let bob = SigningKey::from_bytes(&[2; 32]);
    let to_alice = Identity::from_bytes(alice.verifying_key().as_bytes()).unwrap();
    let key = [42u8; 32];
    let w = wrap_key(&key, &to_alice);
    assert_eq!(w.ct.len(), 64);
    assert_eq!(unwrap_key(&w, &[1; 32]), Some(key));
    assert_eq!(unwrap_key(&w, &[2; 32]), None);
    let for_bob = wrap_key(
        &key,
        &Identity::from_bytes(bob.verifying_key().as_bytes()).unwrap(),
    );
    assert_eq!(unwrap_any(&[w, for_bob], &[2; 32]), Some(key));
}
