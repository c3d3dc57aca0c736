package stack

import (
	"fmt"
	"strings"

	"github.com/orderflow/orderflow/cmd/orderflow/internal/jwtauth"
	"github.com/orderflow/orderflow/tools/template"
)

// DefaultJWTAudience is the audience of the local issuer's tokens when ApiAuth=JWT is
// given without JwtAudience.
const DefaultJWTAudience = "orderflow-local"

// startIssuer runs the local JWT issuer when the stack is to use JWT auth without an
// issuer of its own (ApiAuth=JWT, no JwtIssuer): it fills in JwtIssuer (and JwtAudience
// when unset), so the template's authorizer trusts it, and saves it under stateDir for
// `orderflow token`.
func (s *Stack) startIssuer(t *template.Template, params map[string]string, stateDir string) error {
	if params["ApiAuth"] != "JWT" || params["JwtIssuer"] != "" {
		return nil
	}
	if params["JwtAudience"] == "" {
		params["JwtAudience"] = DefaultJWTAudience
	}
	claim := params["JwtCustomerClaim"]
	if p, ok := t.Parameters["JwtCustomerClaim"]; ok && claim == "" {
		claim, _ = p.Default.(string)
	}
	iss, err := jwtauth.StartIssuer(params["JwtAudience"], claim)
	if err != nil {
		return err
	}
	s.Issuer, s.stateDir = iss, stateDir
	params["JwtIssuer"] = iss.URL
	if err := iss.Save(stateDir); err != nil {
		return fmt.Errorf("JWT issuer: %w", err)
	}
	s.Notes = append(s.Notes, fmt.Sprintf("ApiAuth=JWT: local issuer %s (audience %s, customer claim %s); `orderflow token --customer ID` mints a token", iss.URL, iss.Audience, claim))
	return nil
}

// jwtAuthorizer returns the authorizer of the template's HTTP API when, with the stack's
// parameters, its security scheme is a JWT authorizer (ApiAuth=JWT); nil otherwise.
func (s *Stack) jwtAuthorizer(p *provisioner) (*jwtauth.Authorizer, error) {
	for _, id := range p.t.IDs("AWS::Serverless::HttpApi", "AWS::ApiGatewayV2::Api") {
		props := p.t.Resources[id].Properties
		body, _ := props["DefinitionBody"].(map[string]any)
		if body == nil {
			body, _ = props["Body"].(map[string]any)
		}
		comps, _ := body["components"].(map[string]any)
		resolved, err := p.r.resolve(comps["securitySchemes"])
		if err != nil {
			return nil, fmt.Errorf("%s security schemes: %w", id, err)
		}
		schemes, _ := resolved.(map[string]any)
		for _, sc := range schemes {
			m, _ := sc.(map[string]any)
			auth, _ := m["x-amazon-apigateway-authorizer"].(map[string]any)
			if typ, _ := auth["type"].(string); !strings.EqualFold(typ, "jwt") {
				continue
			}
			cfg, _ := auth["jwtConfiguration"].(map[string]any)
			a := &jwtauth.Authorizer{}
			a.Issuer, _ = cfg["issuer"].(string)
			auds, _ := cfg["audience"].([]any)
			for _, v := range auds {
				if s, ok := v.(string); ok {
					a.Audiences = append(a.Audiences, s)
				}
			}
			return a, nil
		}
	}
	return nil, nil
}
