package kirofake

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// Kiro's MCP endpoint (protocol.md §3.9): POST /mcp with a JSON-RPC 2.0
// body. The fake serves tools/list and tools/call of web_search, whose
// results are made up from the query, the same for the same query: titles
// and snippets that repeat the query's words, on example domains.

// Limits of the search tool.
const (
	maxQueryRunes     = 500 // a longer query is a tool error
	webSearchResults  = 5
	maxMCPRequestBody = 64 << 10
)

// JSON-RPC 2.0 error codes.
const (
	rpcParseError     = -32700
	rpcInvalidRequest = -32600
	rpcNoMethod       = -32601
	rpcInvalidParams  = -32602
)

type rpcRequest struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
}

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type rpcResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  any             `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
}

// toolResult is an MCP tools/call result.
type toolResult struct {
	Content []toolContent `json:"content"`
	IsError bool          `json:"isError"`
}

type toolContent struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// SetMCPFault makes /mcp calls fail like SetFault makes chat calls fail
// (only Status, Reason, Message, RetryAfter, FirstByteDelay and Times
// apply); SetMCPFault(Fault{}) clears it.
func (s *Server) SetMCPFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mcpFault.set(f)
}

// mcp serves POST /mcp. HTTP-level failures (token, profile, faults) are
// AWS error answers; everything inside the JSON-RPC body is a JSON-RPC
// answer with status 200, as an MCP server does.
func (s *Server) mcp(w http.ResponseWriter, r *http.Request) error {
	acct, ok := s.bearer(r)
	if !ok {
		return errBearer
	}
	if err := s.checkMCPHeaders(acct, r.Header); err != nil {
		return err
	}
	s.mu.Lock()
	fault, standing := s.mcpFault.take()
	s.mu.Unlock()
	if standing && !sleep(r.Context(), fault.FirstByteDelay) {
		return nil
	}
	if standing && fault.Status != 0 {
		if fault.RetryAfter > 0 {
			w.Header().Set("Retry-After", fmt.Sprint(int(fault.RetryAfter.Seconds()+0.999)))
		}
		return fault.apiError()
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxMCPRequestBody+1))
	if err != nil {
		return nil // the client went away
	}
	var req rpcRequest
	switch {
	case len(body) > maxMCPRequestBody:
		writeJSON(w, http.StatusOK, rpcFail(nil, rpcInvalidRequest, "request too large"))
		return nil
	case json.Unmarshal(body, &req) != nil:
		writeJSON(w, http.StatusOK, rpcFail(nil, rpcParseError, "Parse error"))
		return nil
	case req.JSONRPC != "2.0" || req.Method == "" || len(req.ID) == 0:
		writeJSON(w, http.StatusOK, rpcFail(req.ID, rpcInvalidRequest, "Invalid Request"))
		return nil
	}
	switch req.Method {
	case "tools/list":
		writeJSON(w, http.StatusOK, rpcResponse{JSONRPC: "2.0", ID: req.ID, Result: map[string]any{"tools": []any{map[string]any{
			"name":        "web_search",
			"description": "Search the web.",
			"inputSchema": map[string]any{"type": "object", "properties": map[string]any{"query": map[string]any{"type": "string"}}, "required": []string{"query"}},
		}}}})
	case "tools/call":
		var p struct {
			Name      string `json:"name"`
			Arguments struct {
				Query *string `json:"query"`
			} `json:"arguments"`
		}
		switch {
		case json.Unmarshal(req.Params, &p) != nil:
			writeJSON(w, http.StatusOK, rpcFail(req.ID, rpcInvalidParams, "Invalid params"))
		case p.Name != "web_search":
			writeJSON(w, http.StatusOK, rpcFail(req.ID, rpcInvalidParams, "Unknown tool: "+p.Name))
		case p.Arguments.Query == nil || strings.TrimSpace(*p.Arguments.Query) == "":
			writeJSON(w, http.StatusOK, rpcFail(req.ID, rpcInvalidParams, "Invalid params: query is required"))
		case utf8.RuneCountInString(*p.Arguments.Query) > maxQueryRunes:
			writeJSON(w, http.StatusOK, rpcResponse{JSONRPC: "2.0", ID: req.ID, Result: toolResult{IsError: true,
				Content: []toolContent{{Type: "text", Text: fmt.Sprintf("query is longer than %d characters", maxQueryRunes)}}}})
		default:
			s.mu.Lock()
			acct.usage.WebSearches++
			s.mu.Unlock()
			text, _ := json.Marshal(s.searchResults(*p.Arguments.Query))
			writeJSON(w, http.StatusOK, rpcResponse{JSONRPC: "2.0", ID: req.ID, Result: toolResult{
				Content: []toolContent{{Type: "text", Text: string(text)}}}})
		}
	default:
		writeJSON(w, http.StatusOK, rpcFail(req.ID, rpcNoMethod, "Method not found: "+req.Method))
	}
	return nil
}

func rpcFail(id json.RawMessage, code int, msg string) rpcResponse {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	return rpcResponse{JSONRPC: "2.0", ID: id, Error: &rpcError{Code: code, Message: msg}}
}

// checkMCPHeaders applies the profile rules of protocol.md §3.8 to the
// x-amzn-kiro-profile-arn header (the body has no profileArn here): social
// accounts must send theirs (IdC ones too with RequireProfileARN), API keys
// none. Unless LaxHeaders, it wants the IDE's user agent.
func (s *Server) checkMCPHeaders(a *account, h http.Header) *apiError {
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return &apiError{Status: http.StatusUnsupportedMediaType, Type: "UnsupportedMediaTypeException",
			Message: "Unsupported Media Type", Detail: "Content-Type must be application/json"}
	}
	arn := h.Get("x-amzn-kiro-profile-arn")
	if arn == "" && (a.kind == social || a.kind == idc && s.cfg.RequireProfileARN) {
		return &apiError{Status: http.StatusBadRequest, Type: "ValidationException",
			Message: "profileArn is required for this request", Detail: "no x-amzn-kiro-profile-arn header for an OAuth token"}
	}
	if err := s.checkProfile(a, arn); err != nil {
		return err
	}
	if !s.cfg.LaxHeaders && !ideUserAgent(h.Get("x-amz-user-agent")) {
		return &apiError{Status: http.StatusBadRequest, Type: "ValidationException", Message: "Improperly formed request.",
			Detail: "x-amz-user-agent must contain KiroIDE-<version>-<64 hex machine id> (kirofake check; set Config.LaxHeaders to skip)"}
	}
	return nil
}

// searchResult is one hit as Kiro's web_search returns it.
type searchResult struct {
	Title                string `json:"title"`
	URL                  string `json:"url"`
	Snippet              string `json:"snippet"`
	PublishedDate        int64  `json:"publishedDate"`
	ID                   string `json:"id"`
	Domain               string `json:"domain"`
	MaxVerbatimWordLimit int    `json:"maxVerbatimWordLimit"`
	PublicDomain         bool   `json:"publicDomain"`
}

type searchAnswer struct {
	Results      []searchResult `json:"results"`
	TotalResults int            `json:"totalResults"`
	Query        string         `json:"query"`
	Error        *string        `json:"error"`
}

var searchDomains = []string{"example.com", "example.org", "example.net", "docs.example.com", "blog.example.org", "wiki.example.net"}

// searchResults makes up the results of a query, from the query alone.
func (s *Server) searchResults(query string) searchAnswer {
	h := fnv.New64a()
	io.WriteString(h, query)
	rng := rand.New(rand.NewPCG(uint64(s.cfg.Seed), h.Sum64()))
	words := strings.Fields(query)
	slug := strings.ToLower(strings.Join(words, "-"))
	if len(slug) > 60 {
		slug = strings.TrimRight(slug[:60], "-")
	}
	slug = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return -1
	}, slug)
	if slug == "" {
		slug = "search"
	}
	base := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	kinds := []string{"Guide", "Overview", "Reference", "Tutorial", "FAQ", "Release notes", "Discussion"}
	q := oneLine(query, 80)
	var out []searchResult
	for i := range webSearchResults {
		domain := searchDomains[rng.IntN(len(searchDomains))]
		kind := kinds[rng.IntN(len(kinds))]
		out = append(out, searchResult{
			Title:                fmt.Sprintf("%s: %s", q, kind),
			URL:                  fmt.Sprintf("https://%s/%s/%d", domain, slug, i+1),
			Snippet:              fmt.Sprintf("A %s about %s, made up by kirofake for result %d. It repeats the query so tests can find it.", strings.ToLower(kind), q, i+1),
			PublishedDate:        base.AddDate(0, 0, -rng.IntN(900)).UnixMilli(),
			ID:                   fmt.Sprintf("kirofake-%016x-%d", h.Sum64(), i+1),
			Domain:               domain,
			MaxVerbatimWordLimit: 30,
		})
	}
	return searchAnswer{Results: out, TotalResults: len(out), Query: query}
}
