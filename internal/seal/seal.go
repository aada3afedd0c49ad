// Package seal encrypts state at rest — sink spool segments today, engine
// checkpoints next — with AES-256-GCM under keys that carry an id, so that
// every file says which key sealed it and keys can be rotated: new data is
// sealed with the primary key, older keys stay in the keyring for reading.
// A key that is missing or wrong is an error that names the key id;
// authenticated encryption means sealed data is either read exactly as it
// was written or not at all.
//
// Two forms: Keyring.Seal and Open write and read a self-describing
// envelope (magic, key id, nonce, ciphertext), for whole files such as a
// checkpoint; Key.SealFrame and OpenFrame write just nonce and ciphertext,
// for many small records in one file whose header names the key once, such
// as a spool segment.
package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the size of a key: AES-256.
const KeySize = 32

// Magic starts every envelope.
const Magic = "CEPSEAL1"

const nonceSize = 12

// ErrUnknownKey is returned for data sealed with a key the keyring lacks.
var ErrUnknownKey = errors.New("sealed with a key that is not configured")

// ErrAuth is returned when data does not authenticate: a wrong key, or
// data changed since it was sealed.
var ErrAuth = errors.New("does not authenticate (wrong key, or the data was changed)")

// Key is one AES-256-GCM key and its id.
type Key struct {
	id   string
	aead cipher.AEAD
}

// NewKey makes a key from 32 bytes. Its id is derived from the key (16 hex
// digits of a SHA-256 of it), so that it needs no name in the config and
// tells keys apart without revealing them.
func NewKey(material []byte) (*Key, error) {
	if len(material) != KeySize {
		return nil, fmt.Errorf("key of %d bytes: AES-256 takes %d", len(material), KeySize)
	}
	block, err := aes.NewCipher(material)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(append([]byte("cep seal key id\x00"), material...))
	return &Key{id: hex.EncodeToString(sum[:8]), aead: aead}, nil
}

// ParseKey reads a key written as 64 hexadecimal digits or as the standard
// base64 of 32 bytes (openssl rand -hex 32, openssl rand -base64 32).
func ParseKey(text string) (*Key, error) {
	text = strings.TrimSpace(text)
	if b, err := hex.DecodeString(text); err == nil && len(b) == KeySize {
		return NewKey(b)
	}
	if b, err := base64.StdEncoding.DecodeString(text); err == nil && len(b) == KeySize {
		return NewKey(b)
	}
	return nil, fmt.Errorf("a key is 32 bytes written as 64 hex digits or base64 (openssl rand -hex 32)")
}

// ID returns the key's id.
func (k *Key) ID() string { return k.id }

// SealFrame appends nonce and ciphertext of plaintext to dst; aad is
// authenticated, not stored.
func (k *Key) SealFrame(dst, plaintext, aad []byte) []byte {
	var nonce [nonceSize]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		panic("seal: no randomness: " + err.Error())
	}
	dst = append(dst, nonce[:]...)
	return k.aead.Seal(dst, nonce[:], plaintext, aad)
}

// OpenFrame appends the plaintext of a SealFrame output to dst.
func (k *Key) OpenFrame(dst, frame, aad []byte) ([]byte, error) {
	if len(frame) < nonceSize+k.aead.Overhead() {
		return dst, fmt.Errorf("key %s: sealed data of %d bytes is too short", k.id, len(frame))
	}
	out, err := k.aead.Open(dst, frame[:nonceSize], frame[nonceSize:], aad)
	if err != nil {
		return dst, fmt.Errorf("key %s: %w", k.id, ErrAuth)
	}
	return out, nil
}

// FrameOverhead is what SealFrame adds to a plaintext.
func (k *Key) FrameOverhead() int { return nonceSize + k.aead.Overhead() }

// Keyring holds the primary key, which seals, and older keys, which only
// open.
type Keyring struct {
	primary *Key
	byID    map[string]*Key
}

// NewKeyring makes a keyring; older keys may repeat the primary.
func NewKeyring(primary *Key, older ...*Key) *Keyring {
	r := &Keyring{primary: primary, byID: map[string]*Key{primary.id: primary}}
	for _, k := range older {
		r.byID[k.id] = k
	}
	return r
}

// Primary returns the key new data is sealed with.
func (r *Keyring) Primary() *Key { return r.primary }

// Key returns the key with the given id.
func (r *Keyring) Key(id string) (*Key, error) {
	if k, ok := r.byID[id]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("key %s: %w (configured: %s)", id, ErrUnknownKey, strings.Join(r.IDs(), ", "))
}

// IDs lists the ids of the keyring, the primary first.
func (r *Keyring) IDs() []string {
	ids := []string{r.primary.id}
	for id := range r.byID {
		if id != r.primary.id {
			ids = append(ids, id)
		}
	}
	return ids
}

// Seal appends an envelope of plaintext under the primary key to dst:
// Magic, the key id's length and the id, then SealFrame's output.
func (r *Keyring) Seal(dst, plaintext, aad []byte) []byte {
	dst = append(dst, Magic...)
	dst = append(dst, byte(len(r.primary.id)))
	dst = append(dst, r.primary.id...)
	return r.primary.SealFrame(dst, plaintext, aad)
}

// IsSealed tells whether b starts like an envelope, so that a reader can
// tell sealed files from plaintext ones written before encryption was
// turned on.
func IsSealed(b []byte) bool { return bytes.HasPrefix(b, []byte(Magic)) }

// EnvelopeKeyID returns the id of the key that sealed an envelope.
func EnvelopeKeyID(envelope []byte) (string, error) {
	id, _, err := splitEnvelope(envelope)
	return id, err
}

func splitEnvelope(b []byte) (id string, frame []byte, err error) {
	if !IsSealed(b) {
		return "", nil, errors.New("not sealed data (no " + Magic + " header)")
	}
	b = b[len(Magic):]
	if len(b) < 1 || len(b) < 1+int(b[0]) {
		return "", nil, errors.New("sealed data: truncated header")
	}
	return string(b[1 : 1+int(b[0])]), b[1+int(b[0]):], nil
}

// Open appends the plaintext of an envelope to dst. An envelope sealed
// with a key the keyring lacks, and one that does not authenticate, are
// errors that name the key id.
func (r *Keyring) Open(dst, envelope, aad []byte) ([]byte, error) {
	id, frame, err := splitEnvelope(envelope)
	if err != nil {
		return dst, err
	}
	k, err := r.Key(id)
	if err != nil {
		return dst, err
	}
	return k.OpenFrame(dst, frame, aad)
}
