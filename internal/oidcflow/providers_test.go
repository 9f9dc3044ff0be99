package oidcflow

// Test hooks into the process's provider cache (provider.go).

// resetProviders empties the cache.
func resetProviders() {
	providers.Lock()
	providers.m = map[string]*providerEntry{}
	providers.Unlock()
}

// waitDiscovery waits for the discovery of issuer in flight, if any.
func waitDiscovery(issuer string) {
	providers.Lock()
	e := providers.m[issuer]
	var call *discovery
	if e != nil {
		call = e.inflight
	}
	providers.Unlock()
	if call != nil {
		<-call.done
	}
}
