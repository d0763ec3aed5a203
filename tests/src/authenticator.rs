//! A software passkey authenticator written against the WebAuthn Level 2 specification, for
//! tests: what a browser and a platform authenticator together hand back from
//! `navigator.credentials.create()` and `.get()`, as the JSON a page posts.
//!
//! ES256 keys (ring), `none` attestation, a discoverable credential (it remembers the user
//! handle and returns it at every assertion), user presence and verification set, and a
//! signature counter the test controls (a clone is `clone_key` with an older counter).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Flag bits of the authenticator data.
const UP: u8 = 0x01;
const UV: u8 = 0x04;
const BE: u8 = 0x08;
const BS: u8 = 0x10;
const AT: u8 = 0x40;

/// One credential on a software authenticator.
pub struct SoftAuthenticator {
    rng: SystemRandom,
    pkcs8: Vec<u8>,
    key: EcdsaKeyPair,
    /// The credential id.
    pub credential_id: Vec<u8>,
    /// The user handle remembered at registration (a discoverable credential).
    pub user_handle: Option<Vec<u8>>,
    /// The signature counter reported at the next ceremony; `authenticate` adds 1 first when
    /// [`counting`](Self::counting) is on.
    pub counter: u32,
    /// Whether each assertion increments the counter (a security key); off: always 0 (a synced
    /// passkey).
    pub counting: bool,
    /// The AAGUID reported at registration.
    pub aaguid: [u8; 16],
    /// Claim a synced (backed-up) passkey: BE and BS set.
    pub synced: bool,
    /// Claim user verification (PIN or biometrics).
    pub user_verified: bool,
}

impl std::fmt::Debug for SoftAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftAuthenticator").field("counter", &self.counter).finish_non_exhaustive()
    }
}

impl Default for SoftAuthenticator {
    fn default() -> Self {
        Self::new()
    }
}

impl SoftAuthenticator {
    /// A new credential with a fresh key and a random 32-byte id, counting assertions.
    pub fn new() -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).expect("generate a P-256 key");
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).expect("load the key");
        let mut credential_id = vec![0u8; 32];
        rng.fill(&mut credential_id).expect("random credential id");
        SoftAuthenticator {
            rng,
            pkcs8: pkcs8.as_ref().to_vec(),
            key,
            credential_id,
            user_handle: None,
            counter: 0,
            counting: true,
            aaguid: *b"rail-test-authnr",
            synced: false,
            user_verified: true,
        }
    }

    /// A copy of this credential (same key, id, user handle and counter): a cloned authenticator.
    pub fn clone_key(&self) -> Self {
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &self.pkcs8, &rng).expect("load the key");
        SoftAuthenticator {
            rng,
            pkcs8: self.pkcs8.clone(),
            key,
            credential_id: self.credential_id.clone(),
            user_handle: self.user_handle.clone(),
            counter: self.counter,
            counting: self.counting,
            aaguid: self.aaguid,
            synced: self.synced,
            user_verified: self.user_verified,
        }
    }

    fn flags(&self) -> u8 {
        let mut flags = UP;
        if self.user_verified {
            flags |= UV;
        }
        if self.synced {
            flags |= BE | BS;
        }
        flags
    }

    fn cose_key(&self) -> Vec<u8> {
        use ciborium::Value as V;
        let public = self.key.public_key().as_ref(); // 0x04 | x (32) | y (32)
        let map = V::Map(vec![
            (V::Integer(1.into()), V::Integer(2.into())),                 // kty: EC2
            (V::Integer(3.into()), V::Integer((-7).into())),              // alg: ES256
            (V::Integer((-1).into()), V::Integer(1.into())),              // crv: P-256
            (V::Integer((-2).into()), V::Bytes(public[1..33].to_vec())),  // x
            (V::Integer((-3).into()), V::Bytes(public[33..65].to_vec())), // y
        ]);
        let mut out = Vec::new();
        ciborium::into_writer(&map, &mut out).expect("encode the COSE key");
        out
    }

    fn client_data(kind: &str, challenge: &str, origin: &str) -> Vec<u8> {
        json!({ "type": kind, "challenge": challenge, "origin": origin, "crossOrigin": false }).to_string().into_bytes()
    }

    /// `navigator.credentials.create()` with the server's options (`{"publicKey": {...}}`) on a
    /// page at `origin`, for relying party `rp_id` (normally the options' `rp.id`): the
    /// credential's JSON.
    pub fn register_for(&mut self, options: &Value, origin: &str, rp_id: &str) -> Value {
        let public_key = &options["publicKey"];
        let challenge = public_key["challenge"].as_str().expect("options.publicKey.challenge");
        let handle = public_key["user"]["id"].as_str().expect("options.publicKey.user.id");
        self.user_handle = Some(B64URL.decode(handle).expect("user.id is base64url"));
        let client_data = Self::client_data("webauthn.create", challenge, origin);
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(self.flags() | AT);
        auth_data.extend_from_slice(&self.counter.to_be_bytes());
        auth_data.extend_from_slice(&self.aaguid);
        auth_data.extend_from_slice(&u16::try_from(self.credential_id.len()).expect("id length").to_be_bytes());
        auth_data.extend_from_slice(&self.credential_id);
        auth_data.extend_from_slice(&self.cose_key());
        use ciborium::Value as V;
        let object = V::Map(vec![
            (V::Text("fmt".into()), V::Text("none".into())),
            (V::Text("attStmt".into()), V::Map(vec![])),
            (V::Text("authData".into()), V::Bytes(auth_data)),
        ]);
        let mut attestation = Vec::new();
        ciborium::into_writer(&object, &mut attestation).expect("encode the attestation object");
        self.credential(json!({
            "clientDataJSON": B64URL.encode(&client_data),
            "attestationObject": B64URL.encode(&attestation),
            "transports": ["internal", "hybrid"],
        }))
    }

    /// The `PublicKeyCredential` JSON around a `response`.
    fn credential(&self, response: Value) -> Value {
        json!({
            "id": B64URL.encode(&self.credential_id),
            "rawId": B64URL.encode(&self.credential_id),
            "type": "public-key",
            "response": response,
            "clientExtensionResults": {},
        })
    }

    /// [`register_for`](Self::register_for) the options' own relying party.
    pub fn register(&mut self, options: &Value, origin: &str) -> Value {
        let rp_id = options["publicKey"]["rp"]["id"].as_str().expect("options.publicKey.rp.id").to_owned();
        self.register_for(options, origin, &rp_id)
    }

    /// `navigator.credentials.get()` with the server's options on a page at `origin`, for
    /// relying party `rp_id`: the assertion's JSON (with the user handle, as a discoverable
    /// credential returns it).
    pub fn authenticate_for(&mut self, options: &Value, origin: &str, rp_id: &str) -> Value {
        if self.counting {
            self.counter += 1;
        }
        let challenge = options["publicKey"]["challenge"].as_str().expect("options.publicKey.challenge");
        let client_data = Self::client_data("webauthn.get", challenge, origin);
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(self.flags());
        auth_data.extend_from_slice(&self.counter.to_be_bytes());
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data));
        let signature = self.key.sign(&self.rng, &signed).expect("sign the assertion");
        self.credential(json!({
            "clientDataJSON": B64URL.encode(&client_data),
            "authenticatorData": B64URL.encode(&auth_data),
            "signature": B64URL.encode(signature.as_ref()),
            "userHandle": self.user_handle.as_ref().map(|h| B64URL.encode(h)),
        }))
    }

    /// [`authenticate_for`](Self::authenticate_for) the options' own relying party.
    pub fn authenticate(&mut self, options: &Value, origin: &str) -> Value {
        let rp_id = options["publicKey"]["rpId"].as_str().expect("options.publicKey.rpId").to_owned();
        self.authenticate_for(options, origin, &rp_id)
    }
}
