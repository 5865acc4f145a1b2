package kiro

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kirotray/kirotray/proxy/conv"
)

// Web search (§3.9). Kiro has no search inside generateAssistantResponse;
// the IDE runs searches through its MCP endpoint instead: POST {base}/mcp
// with a JSON-RPC 2.0 tools/call of the web_search tool. Send does that for
// a conv.Request with WebSearch set and answers with a stream of one
// WebSearchResults event. Searches do not count against an account's health:
// a front end falls back to a model call when one fails.

const (
	// webSearchTimeout bounds one search call; a search that takes longer is
	// better answered without it.
	webSearchTimeout = 30 * time.Second
	// webSearchAccounts is how many accounts a search tries.
	webSearchAccounts = 2
	maxWebSearchBody  = 1 << 20
)

// webSearch runs req.WebSearch on up to two accounts, refreshing a refused
// token once. Errors the search caused wrap ErrWebSearch.
func (c *Client) webSearch(ctx context.Context, req *conv.Request) (*Stream, error) {
	ws := req.WebSearch
	if strings.TrimSpace(ws.Query) == "" {
		return nil, fmt.Errorf("%w: empty query", ErrWebSearch)
	}
	model := c.models.Map(req.Model)
	var exclude []string
	var lastErr error
	for range webSearchAccounts {
		acct, err := c.accounts.Pick(ctx, req.ConversationID, exclude)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if lastErr != nil {
				return nil, lastErr
			}
			return nil, err
		}
		exclude = append(exclude, acct.Name())
		results, err := c.searchOn(ctx, acct, ws.Query)
		if err == nil {
			ev := WebSearchResults{Query: ws.Query, Results: filterDomains(results, ws.AllowedDomains, ws.BlockedDomains)}
			return newEventStream(ev, acct.Name(), model, req.ConversationID), nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		c.log.Info("web_search_failed", "account", acct.Name(), "err", err)
		lastErr = err
		var up *UpstreamError
		if !errors.As(err, &up) || !(up.Retry || up.Status == http.StatusForbidden) {
			break // the service answered: another account would be told the same
		}
	}
	return nil, lastErr
}

// searchOn makes the search call on one account, with one forced token
// refresh if the token is refused.
func (c *Client) searchOn(ctx context.Context, acct Account, query string) ([]WebResult, error) {
	force := false
	for {
		tok, err := acct.Token(ctx, force)
		if err != nil {
			return nil, fmt.Errorf("kiro: token of %s: %w", acct.Name(), err)
		}
		results, err := c.search(ctx, acct, tok, query)
		var up *UpstreamError
		if !force && errors.As(err, &up) && up.Reason == ReasonBadToken {
			force = true
			continue
		}
		return results, err
	}
}

// mcpRequest is the JSON-RPC call of Kiro's web_search tool.
type mcpRequest struct {
	ID      string    `json:"id"`
	JSONRPC string    `json:"jsonrpc"`
	Method  string    `json:"method"`
	Params  mcpParams `json:"params"`
}

type mcpParams struct {
	Name      string            `json:"name"`
	Arguments map[string]string `json:"arguments"`
}

// mcpResponse is its answer: a result whose first content block is text
// holding the results as JSON, or a JSON-RPC error.
type mcpResponse struct {
	Result *struct {
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
		IsError bool `json:"isError"`
	} `json:"result"`
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// searchAnswer is the JSON inside the result's text.
type searchAnswer struct {
	Results []struct {
		Title         string `json:"title"`
		URL           string `json:"url"`
		Snippet       string `json:"snippet"`
		PublishedDate int64  `json:"publishedDate"` // Unix milliseconds
	} `json:"results"`
	Error string `json:"error"`
}

// search is one POST /mcp.
func (c *Client) search(ctx context.Context, acct Account, tok Token, query string) ([]WebResult, error) {
	ctx, cancel := context.WithTimeout(ctx, webSearchTimeout)
	defer cancel()
	body, err := json.Marshal(mcpRequest{
		ID:      mcpID(),
		JSONRPC: "2.0",
		Method:  "tools/call",
		Params:  mcpParams{Name: "web_search", Arguments: map[string]string{"query": query}},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrWebSearch, err)
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/mcp", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrWebSearch, err)
	}
	c.setHeaders(hreq.Header, tok, acct, uuid.NewString(), 1, 1, "api/codewhispererstreaming#"+sdkVersion+" m/E")
	if tok.ProfileARN != "" && !tok.APIKey {
		hreq.Header["X-Amzn-Kiro-Profile-Arn"] = []string{tok.ProfileARN}
	}
	resp, err := c.http.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrWebSearch, transportError(err, nil, tok))
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return nil, fmt.Errorf("%w: %w", ErrWebSearch, classify(resp.StatusCode, resp.Header, b, tok.Access.Reveal()))
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxWebSearchBody))
	if err != nil {
		return nil, fmt.Errorf("%w: reading the answer: %w", ErrWebSearch, err)
	}
	var r mcpResponse
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("%w: unreadable answer: %w", ErrWebSearch, err)
	}
	switch {
	case r.Error != nil:
		return nil, fmt.Errorf("%w: error %d: %s", ErrWebSearch, r.Error.Code, scrub(r.Error.Message, tok.Access.Reveal()))
	case r.Result == nil || len(r.Result.Content) == 0 || r.Result.Content[0].Type != "text":
		return nil, fmt.Errorf("%w: answer without a text result", ErrWebSearch)
	case r.Result.IsError:
		return nil, fmt.Errorf("%w: tool error: %s", ErrWebSearch, scrub(r.Result.Content[0].Text, tok.Access.Reveal()))
	}
	var a searchAnswer
	if err := json.Unmarshal([]byte(r.Result.Content[0].Text), &a); err != nil {
		return nil, fmt.Errorf("%w: unreadable results: %w", ErrWebSearch, err)
	}
	if a.Error != "" && len(a.Results) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrWebSearch, scrub(a.Error, tok.Access.Reveal()))
	}
	out := make([]WebResult, 0, len(a.Results))
	for _, x := range a.Results {
		if x.URL == "" {
			continue
		}
		w := WebResult{Title: x.Title, URL: x.URL, Snippet: x.Snippet}
		if x.PublishedDate > 0 {
			w.Published = time.UnixMilli(x.PublishedDate).UTC()
		}
		out = append(out, w)
	}
	return out, nil
}

// mcpID is a request id in the IDE's form (§3.9):
// web_search_tooluse_<22 alphanumerics>_<Unix ms>_<8 alphanumerics>.
func mcpID() string {
	return "web_search_tooluse_" + alnum(22) + "_" + strconv.FormatInt(time.Now().UnixMilli(), 10) + "_" + strings.ToLower(alnum(8))
}

func alnum(n int) string {
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = chars[int(b[i])%len(chars)]
	}
	return string(b)
}

// filterDomains keeps results on an allowed domain (when any are given) and
// off every blocked one. A domain matches itself and its subdomains.
func filterDomains(results []WebResult, allowed, blocked []string) []WebResult {
	if len(allowed) == 0 && len(blocked) == 0 {
		return results
	}
	out := results[:0:0]
	for _, r := range results {
		u, err := url.Parse(r.URL)
		if err != nil {
			continue
		}
		host := strings.ToLower(u.Hostname())
		if (len(allowed) == 0 || onDomain(host, allowed)) && !onDomain(host, blocked) {
			out = append(out, r)
		}
	}
	return out
}

func onDomain(host string, domains []string) bool {
	for _, d := range domains {
		d = strings.ToLower(strings.TrimSpace(d))
		if i := strings.Index(d, "://"); i >= 0 {
			d = d[i+3:]
		}
		d = strings.TrimSuffix(d, "/")
		if d != "" && (host == d || strings.HasSuffix(host, "."+d)) {
			return true
		}
	}
	return false
}
