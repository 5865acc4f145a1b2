package openai

import (
	"container/list"
	"sync"

	"github.com/kirotray/kirotray/proxy/conv"
)

// Defaults of Store's zero fields.
const (
	DefaultStoreEntries = 256
	DefaultStoreBytes   = 64 << 20
)

// Store keeps the conversations of recent responses in memory, so that a
// request may continue one with previous_response_id. It is bounded by the
// number of entries and by an estimate of the text they hold; the least
// recently used entries go first. Conversations are not written to disk: a
// restart forgets them, and a client then gets "previous response not
// found". Its zero value is ready; it is safe for concurrent use.
//
// An entry counts all the text of its conversation, though a continued
// conversation shares its earlier messages with the entry it continues: the
// estimate is an upper bound, and a long chain pushes out its own older
// links first, which clients no longer continue from.
type Store struct {
	// MaxEntries bounds the number of responses kept; 0 means DefaultStoreEntries.
	MaxEntries int
	// MaxBytes bounds the estimated text bytes kept; 0 means DefaultStoreBytes.
	MaxBytes int

	mu    sync.Mutex
	lru   list.List // of *storeEntry, most recent first
	byID  map[string]*list.Element
	bytes int
}

type storeEntry struct {
	id       string
	messages []conv.Message
	size     int // the estimate this entry adds
}

// Get returns the conversation stored under id: every message of the
// requests that led to it, and its answer. The caller must not modify it.
func (s *Store) Get(id string) ([]conv.Message, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.byID[id]
	if !ok {
		return nil, false
	}
	s.lru.MoveToFront(el)
	return el.Value.(*storeEntry).messages, true
}

// Put stores a conversation under id; the caller must not modify it later.
func (s *Store) Put(id string, messages []conv.Message) {
	size := 0
	for i := range messages {
		size += messageSize(&messages[i])
	}
	maxBytes, maxEntries := s.MaxBytes, s.MaxEntries
	if maxBytes <= 0 {
		maxBytes = DefaultStoreBytes
	}
	if maxEntries <= 0 {
		maxEntries = DefaultStoreEntries
	}
	if size > maxBytes {
		return // one conversation larger than the whole store: keep the others
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byID == nil {
		s.byID = make(map[string]*list.Element)
	}
	if el, ok := s.byID[id]; ok {
		s.remove(el)
	}
	s.byID[id] = s.lru.PushFront(&storeEntry{id: id, messages: messages, size: size})
	s.bytes += size
	for s.lru.Len() > maxEntries || s.bytes > maxBytes {
		s.remove(s.lru.Back())
	}
}

// Len returns the number of stored responses.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lru.Len()
}

func (s *Store) remove(el *list.Element) {
	e := el.Value.(*storeEntry)
	s.lru.Remove(el)
	delete(s.byID, e.id)
	s.bytes -= e.size
}

func messageSize(m *conv.Message) int {
	n := 64
	for i := range m.Content {
		b := &m.Content[i]
		n += 32 + len(b.Text) + len(b.Data) + len(b.Input) + len(b.ToolName) + len(b.ToolUseID)
		for j := range b.Content {
			n += 32 + len(b.Content[j].Text) + len(b.Content[j].Data)
		}
	}
	return n
}
