// Where serve fetches access repos from: the git host that goes with the REST API it talks to.
import { describe, expect, it } from 'vitest';
import { serverUrlFor } from '../../src/github/mirror.js';

describe('serverUrlFor', () => {
  it('maps the REST API to its git host', () => {
    expect(serverUrlFor(undefined)).toBe('https://github.com');
    expect(serverUrlFor('https://api.github.com')).toBe('https://github.com');
    expect(serverUrlFor('https://ghe.example.com/api/v3')).toBe('https://ghe.example.com');
    expect(serverUrlFor('https://ghe.example.com/api/v3/')).toBe('https://ghe.example.com');
    // A test double that serves both on one origin.
    expect(serverUrlFor('http://127.0.0.1:4321')).toBe('http://127.0.0.1:4321');
  });
});
