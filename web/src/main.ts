import { mount } from 'svelte';
import './app.css';
import App from './App.svelte';
import { registerServiceWorker } from './lib/pushplatform';

// The service worker shows "New message" for pushes; registered on every visit.
void registerServiceWorker();

const app = mount(App, { target: document.getElementById('app')! });

export default app;
