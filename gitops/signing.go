package gitops

import (
	"bytes"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// SecretKeySigningKey is the key of the Secret spec.gitops.signingKeySecretRef
// names: an armored OpenPGP private key.
const SecretKeySigningKey = "signing-key"

// ParseSigningKey reads the first private key of an armored OpenPGP key
// ring, decrypting it with passphrase when it is protected.
func ParseSigningKey(armored, passphrase []byte) (*openpgp.Entity, error) {
	ring, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(armored))
	if err != nil {
		return nil, terminal(ReasonInvalid, "key %q of the signing Secret is not an armored OpenPGP key ring: %w", SecretKeySigningKey, err)
	}
	for _, e := range ring {
		if e.PrivateKey == nil {
			continue
		}
		if e.PrivateKey.Encrypted {
			if len(passphrase) == 0 {
				return nil, terminal(ReasonInvalid, "the OpenPGP signing key is passphrase-protected; store it unprotected or give its passphrase")
			}
			if err := e.DecryptPrivateKeys(passphrase); err != nil {
				return nil, terminal(ReasonInvalid, "decrypting the OpenPGP signing key: %w", err)
			}
		}
		return e, nil
	}
	return nil, terminal(ReasonInvalid, "key %q of the signing Secret holds no private key (export it with gpg --export-secret-keys --armor)", SecretKeySigningKey)
}
