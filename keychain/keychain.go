// Package keychain stores secrets in the OS keychain (macOS Keychain, Windows
// Credential Manager, the Secret Service on Linux) behind a three-method
// [Store] interface, with an in-memory [Memory] store for tests. It knows
// nothing about Kiro or accounts: ids and secrets are opaque strings.
package keychain

import (
	"errors"
	"sync"
)

// ErrNotFound is returned by Get and Delete when nothing is stored under id.
var ErrNotFound = errors.New("keychain: not found")

// ErrUnavailable is wrapped by errors from a keychain that cannot be used:
// no Secret Service on the session bus, a locked keyring, a call that did not
// return in time. The cause is wrapped too. Callers should say so plainly and
// offer an explicit file store; they must not fall back silently.
var ErrUnavailable = errors.New("keychain: unavailable")

// Store is all kirotray needs from a keychain. Calls may block on an OS unlock
// prompt: make them from app goroutines, never from UI callbacks.
type Store interface {
	// Get returns the secret stored under id, or an error wrapping ErrNotFound.
	Get(id string) (string, error)
	// Set stores secret under id, replacing what was there.
	Set(id, secret string) error
	// Delete removes id, or returns an error wrapping ErrNotFound.
	Delete(id string) error
}

// Memory is a Store that keeps secrets in memory, for tests and for runs that
// must not touch the OS keychain. Its zero value is ready and it is safe for
// concurrent use.
type Memory struct {
	mu sync.Mutex
	m  map[string]string // id → secret
}

var (
	_ Store = (*Memory)(nil)
	_ Store = (*OS)(nil)
)

// Get implements Store.
func (s *Memory) Get(id string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[id]
	if !ok {
		return "", ErrNotFound
	}
	return v, nil
}

// Set implements Store.
func (s *Memory) Set(id, secret string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = make(map[string]string)
	}
	s.m[id] = secret
	return nil
}

// Delete implements Store.
func (s *Memory) Delete(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[id]; !ok {
		return ErrNotFound
	}
	delete(s.m, id)
	return nil
}
