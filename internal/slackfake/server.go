// Package slackfake is a local stand-in for Slack, for tests: an HTTP server
// that speaks the parts of the Web API sluice uses (auth.test,
// chat.postMessage, chat.update, conversations.history,
// usergroups.users.list, apps.connections.open), a Socket Mode websocket and
// response_url endpoints, plus the other direction of an interaction: it
// builds block_actions payloads from the buttons of messages it holds and
// delivers them signed over HTTP or as Socket Mode envelopes.
//
// Slack cannot be reached from the machines sluice is tested on, and a mock
// of the slack-go client would test our assumptions about Slack rather than
// the code that talks to it; the real client pointed at this server
// (slack.OptionAPIURL(s.APIURL())) exercises request encoding, token
// handling and response parsing for real.
package slackfake

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"
)

// Options configure a Server. Zero values get working defaults.
type Options struct {
	// BotToken is the only token the Web API methods accept.
	BotToken string
	// AppToken is the only token apps.connections.open accepts.
	AppToken string
	// TeamID, BotUserID, BotID and AppID appear in auth.test, in messages
	// and in interaction payloads.
	TeamID, BotUserID, BotID, AppID string
	// UserGroups maps user group IDs (S…) to member user IDs.
	UserGroups map[string][]string
	// PingInterval is how often Socket Mode connections are pinged, as
	// Slack does; slack-go reconnects when pings stop. Default 2s.
	PingInterval time.Duration
}

// Defaults for Options.
const (
	DefaultBotToken  = "xoxb-fake-bot-token"
	DefaultAppToken  = "xapp-fake-app-token"
	DefaultTeamID    = "TFAKE0001"
	DefaultBotUserID = "UFAKEBOT1"
	DefaultBotID     = "BFAKEBOT1"
	DefaultAppID     = "AFAKEAPP1"
)

// Server is a running fake. All methods are safe for concurrent use.
type Server struct {
	opts Options
	http *httptest.Server

	mu        sync.Mutex
	requests  []Request
	channels  map[string][]*message
	lastTS    int64 // microseconds; ts values are strictly increasing
	groups    map[string][]string
	responses []ResponsePost
	respURLs  map[string]messageRef
	nextID    int
	sockets   *sockets
}

// Request is one Web API call as the server received it.
type Request struct {
	// Method is the API method, e.g. "chat.postMessage".
	Method string
	// Auth says how a token was presented: "header" (Authorization:
	// Bearer), "form" (a token parameter) or "" (none). The token itself is
	// never recorded, so test output cannot leak it.
	Auth string
	// Form holds the parameters of a form-encoded call, token removed.
	Form url.Values
	// JSON is the body of a JSON call.
	JSON json.RawMessage
	// At is when the request arrived.
	At time.Time
}

// New starts a fake on a local port. Call Close when done.
func New(opts Options) *Server {
	if opts.BotToken == "" {
		opts.BotToken = DefaultBotToken
	}
	if opts.AppToken == "" {
		opts.AppToken = DefaultAppToken
	}
	if opts.TeamID == "" {
		opts.TeamID = DefaultTeamID
	}
	if opts.BotUserID == "" {
		opts.BotUserID = DefaultBotUserID
	}
	if opts.BotID == "" {
		opts.BotID = DefaultBotID
	}
	if opts.AppID == "" {
		opts.AppID = DefaultAppID
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = 2 * time.Second
	}
	s := &Server{
		opts:     opts,
		channels: map[string][]*message{},
		groups:   map[string][]string{},
		respURLs: map[string]messageRef{},
		sockets:  newSockets(),
	}
	for id, members := range opts.UserGroups {
		s.groups[id] = append([]string(nil), members...)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/api/{method}", s.serveAPI)
	mux.HandleFunc("/response/{id}", s.serveResponseURL)
	mux.HandleFunc("/link", s.serveSocket)
	s.http = httptest.NewServer(mux)
	return s
}

// Close stops the server and drops Socket Mode connections.
func (s *Server) Close() {
	s.sockets.closeAll()
	s.http.Close()
}

// APIURL is the value for slack.OptionAPIURL; it ends with a slash, since
// slack-go appends the method name.
func (s *Server) APIURL() string { return s.http.URL + "/api/" }

// Options returns the options in effect, defaults filled in.
func (s *Server) Options() Options { return s.opts }

// SetUserGroup replaces the members of a user group.
func (s *Server) SetUserGroup(id string, members ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.groups[id] = append([]string(nil), members...)
}

// Requests returns the recorded calls, oldest first; with methods given,
// only calls of those methods.
func (s *Server) Requests(methods ...string) []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Request
	for _, r := range s.requests {
		if len(methods) == 0 || contains(methods, r.Method) {
			out = append(out, r)
		}
	}
	return out
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// apiHandlers are the Web API methods; each gets the parameters and returns
// the response object (without "ok", which serveAPI adds) or an error code.
type apiHandler func(s *Server, p params) (map[string]any, string)

var apiHandlers = map[string]apiHandler{
	"auth.test":             (*Server).authTest,
	"chat.postMessage":      (*Server).postMessage,
	"chat.update":           (*Server).updateMessage,
	"conversations.history": (*Server).history,
	"usergroups.users.list": (*Server).userGroupUsers,
	"apps.connections.open": (*Server).connectionsOpen,
}

// params are a call's parameters, from a form or a flat JSON object.
type params map[string]string

func (p params) get(k string) string { return p[k] }

func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	method := r.PathValue("method")
	body, err := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rec := Request{Method: method, At: time.Now()}
	p := params{}
	token := ""
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		token, rec.Auth = strings.TrimPrefix(h, "Bearer "), "header"
	}
	ctype, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ctype {
	case "application/json":
		rec.JSON = json.RawMessage(body)
		var obj map[string]any
		if len(body) > 0 && json.Unmarshal(body, &obj) == nil {
			for k, v := range obj {
				if str, ok := v.(string); ok {
					p[k] = str
				} else if b, err := json.Marshal(v); err == nil {
					p[k] = string(b)
				}
			}
		}
	default:
		form, err := url.ParseQuery(string(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		for k, v := range r.URL.Query() {
			form[k] = v
		}
		if t := form.Get("token"); t != "" && token == "" {
			token, rec.Auth = t, "form"
		}
		form.Del("token")
		rec.Form = form
		for k := range form {
			p[k] = form.Get(k)
		}
	}
	s.mu.Lock()
	s.requests = append(s.requests, rec)
	s.mu.Unlock()

	want := s.opts.BotToken
	if method == "apps.connections.open" {
		want = s.opts.AppToken
	}
	h, ok := apiHandlers[method]
	var resp map[string]any
	var code string
	switch {
	case token == "":
		code = "not_authed"
	case token != want:
		code = "invalid_auth"
	case !ok:
		code = "unknown_method"
	default:
		resp, code = h(s, p)
	}
	if resp == nil {
		resp = map[string]any{}
	}
	if code != "" {
		resp = map[string]any{"ok": false, "error": code}
	} else {
		resp["ok"] = true
	}
	writeJSON(w, resp)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) authTest(params) (map[string]any, string) {
	return map[string]any{
		"url": "https://fake.slack.com/", "team": "Fake", "user": "sluice",
		"team_id": s.opts.TeamID, "user_id": s.opts.BotUserID, "bot_id": s.opts.BotID,
	}, ""
}

func (s *Server) userGroupUsers(p params) (map[string]any, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	members, ok := s.groups[p.get("usergroup")]
	if !ok {
		return nil, "no_such_subteam"
	}
	return map[string]any{"users": append([]string{}, members...)}, ""
}
