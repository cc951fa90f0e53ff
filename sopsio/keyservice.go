package sopsio

import (
	"context"
	"errors"
	"fmt"

	"filippo.io/age"
	sopsage "github.com/getsops/sops/v3/age"
	"github.com/getsops/sops/v3/keyservice"
)

// ageKeyService is a sops keyservice server that encrypts and decrypts data
// keys with age only, with the identities it was given. Unlike the local
// keyservice.Server of sops, it never falls back to identities from the
// process environment or default paths (sops' age MasterKey does when it has
// no parsed identities), and it refuses every other key type (PGP, cloud KMS,
// Vault), which would read the environment, run gpg or reach the network.
type ageKeyService struct {
	ids sopsage.ParsedIdentities

	noMatch bool  // some age key had no matching identity
	other   error // first other failure to unwrap a data key, if any
}

var _ keyservice.KeyServiceServer = (*ageKeyService)(nil)

// errNoIdentities stands in for an unwrapping attempt without identities.
var errNoIdentities = errors.New("no age identity given")

func (s *ageKeyService) client() keyservice.KeyServiceClient {
	return keyservice.NewCustomLocalClient(s)
}

func (s *ageKeyService) Encrypt(_ context.Context, req *keyservice.EncryptRequest) (*keyservice.EncryptResponse, error) {
	k, ok := req.GetKey().GetKeyType().(*keyservice.Key_AgeKey)
	if !ok {
		return nil, fmt.Errorf("unsupported key type %T: only age keys are supported", req.GetKey().GetKeyType())
	}
	mk, err := sopsage.MasterKeyFromRecipient(k.AgeKey.GetRecipient())
	if err != nil {
		return nil, err
	}
	if err := mk.Encrypt(req.GetPlaintext()); err != nil {
		return nil, err
	}
	return &keyservice.EncryptResponse{Ciphertext: mk.EncryptedDataKey()}, nil
}

func (s *ageKeyService) Decrypt(_ context.Context, req *keyservice.DecryptRequest) (*keyservice.DecryptResponse, error) {
	k, ok := req.GetKey().GetKeyType().(*keyservice.Key_AgeKey)
	if !ok {
		return nil, fmt.Errorf("unsupported key type %T: only age keys are supported", req.GetKey().GetKeyType())
	}
	if len(s.ids) == 0 {
		// An age MasterKey without identities would load them from the
		// environment: never let it.
		s.noMatch = true
		return nil, errNoIdentities
	}
	mk := &sopsage.MasterKey{Recipient: k.AgeKey.GetRecipient(), EncryptedKey: string(req.GetCiphertext())}
	s.ids.ApplyToMasterKey(mk)
	plain, err := mk.Decrypt()
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) {
			s.noMatch = true
		} else if s.other == nil {
			s.other = fmt.Errorf("the data key encrypted to %s could not be unwrapped: %w", k.AgeKey.GetRecipient(), err)
		}
		return nil, err
	}
	return &keyservice.DecryptResponse{Plaintext: plain}, nil
}
